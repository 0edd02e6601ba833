cluster "apim" {
  version = "2.6.0" # ERROR: Unsupported version -- detail: supported: 3.0.0
  home    = "/opt/wso2/wso2am-2.6.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
