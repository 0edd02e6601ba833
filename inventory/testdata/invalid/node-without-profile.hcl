cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
node "gw-1" { # ERROR: Missing profile -- detail: Valid profiles: "control-plane", "api-key-manager-node", "traffic-manager", "gateway-worker"
  host = "10.0.0.21"
}
