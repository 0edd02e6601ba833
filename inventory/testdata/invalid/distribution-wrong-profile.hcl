cluster "apim" {
  version = "4.7.0"
  home    = "/opt/wso2/wso2am-4.7.0"
}
profile "control-plane" {
  distribution = "universal-gateway" # ERROR: Distribution cannot run this profile -- detail: runs "gateway-worker"
}
node "cp-1" {
  profile = "control-plane"
  host    = "10.0.0.11"
}
