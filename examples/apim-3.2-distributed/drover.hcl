# API Manager 3.2, distributed the 3.x way: a key manager, a traffic manager,
# a publisher, a developer portal and two gateway workers.

cluster "apim32" {
  product = "wso2am"
  version = "3.2.0"
  home    = "/opt/wso2/wso2am-3.2.0"
}

ssh {
  user        = "wso2"
  known_hosts = "~/.ssh/known_hosts"
  become      = "sudo"
}

update {
  strategy = "side-by-side"
  pack     = "packs/wso2am-3.2.0-u300.zip"
  sha256   = "9f0e3c6a0d2b4f1e8c7a6b5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f"
}

# The 3.x documentation's start order: key manager, traffic manager,
# publisher, developer portal, then the gateways.
rollout {
  order          = ["api-key-manager", "traffic-manager", "api-publisher", "api-devportal", "gateway-worker"]
  health_timeout = "15m"
}

profile "gateway-worker" {
  health "http" {
    url = "http://127.0.0.1:9763/services/Version"
  }
  health "tcp" {
    port = 8243
  }
}

node "km-1" {
  profile = "api-key-manager"
  host    = "192.0.2.10"
}
node "tm-1" {
  profile = "traffic-manager"
  host    = "192.0.2.11"
}
node "pub-1" {
  profile = "api-publisher"
  host    = "192.0.2.12"
}
node "dev-1" {
  profile = "api-devportal"
  host    = "192.0.2.13"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "192.0.2.21"
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "192.0.2.22"
}
