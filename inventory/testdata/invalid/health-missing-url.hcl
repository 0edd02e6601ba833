cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
profile "gateway-worker" {
  health "http" { # ERROR: Missing url -- detail: health "http" { url =
    status = 200
  }
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
