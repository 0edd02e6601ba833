cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
node "km-1" {
  profile = "key-manager" # ERROR: Unknown profile -- detail: api-key-manager-node
  host    = "10.0.0.21"
}
