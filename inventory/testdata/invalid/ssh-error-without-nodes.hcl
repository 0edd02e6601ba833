cluster "apim" { # WARNING: No nodes -- detail: node "gw-1" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
ssh {
  connect_timeout = "soon" # ERROR: Invalid duration -- detail: such as "30s"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
