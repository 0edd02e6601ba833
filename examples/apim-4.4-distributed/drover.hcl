# API Manager 4.4, distributed: two control planes, two traffic managers and
# four gateway workers behind a load balancer.

cluster "apim-prod" {
  product = "wso2am"
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}

ssh {
  user            = "wso2"
  identity_files  = ["~/.ssh/id_ed25519"]
  known_hosts     = "~/.ssh/known_hosts"
  host_key_policy = "strict"
  jump            = ["ops@bastion.example.com:22"]
  connect_timeout = "10s"
}

update {
  strategy = "side-by-side"
  pack     = "packs/wso2am-4.4.0-u12.zip"
}

rollout {
  order            = ["control-plane", "traffic-manager", "gateway-worker"]
  max_unavailable  = 1
  failure_budget   = 0
  auto_rollback    = true
  health_timeout   = "10m"
  min_healthy_time = "10s"
  stop_timeout     = "2m"
}

persist = ["repository/deployment/server/synapse-configs/default/api"]

vars = {
  lb_pool = "apim-gateways"
}

profile "gateway-worker" {
  max_unavailable = "50%"

  health "http" {
    url          = "https://127.0.0.1:9443/api/am/gateway/v2/server-startup-healthcheck"
    status       = 200
    insecure_tls = true
  }
  health "log" {
    pattern = "WSO2 Carbon started in"
  }

  # Take the gateway out of the load balancer while it restarts.
  hook "before_stop" { local = "./lb.sh drain ${vars.lb_pool} ${node.host}" }
  hook "after_healthy" { local = "./lb.sh enable ${vars.lb_pool} ${node.host}" }

  file "repository/conf/deployment.toml" {
    template = "templates/gateway.toml"
    mode     = "0640"
  }
}

node "cp-1" {
  profile = "control-plane"
  host    = "10.0.0.11"
}
node "cp-2" {
  profile = "control-plane"
  host    = "10.0.0.12"
}
node "tm-1" {
  profile = "traffic-manager"
  host    = "10.0.0.13"
}
node "tm-2" {
  profile = "traffic-manager"
  host    = "10.0.0.14"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "10.0.0.22"
}
node "gw-3" {
  profile = "gateway-worker"
  host    = "10.0.0.23"
}
node "gw-4" {
  profile = "gateway-worker"
  host    = "10.0.0.24"
  port    = 2222
  offset  = 1
}
