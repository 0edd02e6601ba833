cluster "apim" {
  version = "4.6.0"
  home    = "/opt/wso2/wso2am-4.6.0"
}
profile "gateway-worker" {
  distribution = "universal-gw" # ERROR: Unknown distribution -- detail: did you mean "universal-gateway"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
