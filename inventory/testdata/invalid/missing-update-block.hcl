cluster "apim" { # ERROR: Missing update pack -- detail: Add it to the update block
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
