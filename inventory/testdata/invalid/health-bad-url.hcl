cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
profile "gateway-worker" {
  health "http" {
    url = "127.0.0.1:9763/services/Version" # ERROR: Invalid health URL -- detail: "https://127.0.0.1:9443/..."
  }
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
