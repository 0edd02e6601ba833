cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update { # ERROR: Missing update pack -- detail: pack = "packs/wso2am-4.4.0-u12.zip"
  strategy = "side-by-side"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
