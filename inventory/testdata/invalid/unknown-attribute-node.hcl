cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
node "gw-1" {
  profil = "gateway-worker" # ERROR: Unsupported argument -- detail: Did you mean "profile"?
  host   = "10.0.0.21"
}
