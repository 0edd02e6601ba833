cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
profile "gateway-worker" {
  max_unavailable = "101%" # ERROR: Invalid max_unavailable -- detail: from 1% to 100%
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
