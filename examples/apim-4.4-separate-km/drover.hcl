# API Manager 4.4 with a separate Key Manager: the control plane publishes
# and serves the portals, a dedicated node issues and validates tokens.

cluster "apim-km" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}

ssh {
  user            = "wso2"
  host_key_policy = "accept-new"
}

update {
  pack = "packs/wso2am-4.4.0-u12.zip"
}

rollout {
  order           = ["api-key-manager-node", "control-plane", "traffic-manager", "gateway-worker"]
  max_unavailable = "50%"
}

profile "api-key-manager-node" {
  file "repository/conf/deployment.toml" {
    template = "templates/key-manager.toml"
  }
}

node "km-1" {
  profile = "api-key-manager-node"
  host    = "km-1.apim.internal"
}
node "cp-1" {
  profile = "control-plane"
  host    = "cp-1.apim.internal"
}
node "tm-1" {
  profile = "traffic-manager"
  host    = "tm-1.apim.internal"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "gw-1.apim.internal"
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "gw-2.apim.internal"
}
