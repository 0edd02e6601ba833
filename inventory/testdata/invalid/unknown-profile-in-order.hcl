cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
rollout {
  order = ["control-plane", "gateway-workers"] # ERROR: Unknown profile in order -- detail: (did you mean "gateway-worker"?)
}
node "cp-1" {
  profile = "control-plane"
  host    = "10.0.0.11"
}
