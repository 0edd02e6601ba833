cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
rollout {
  order = ["gateway-worker"]
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
node "cp-1" {
  profile = "control-plane" # ERROR: Profile not in rollout order -- detail: Add "control-plane" to rollout.order
  host    = "10.0.0.11"
}
