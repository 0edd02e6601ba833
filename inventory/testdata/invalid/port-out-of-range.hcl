cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
ssh {
  port = 0 # ERROR: Invalid port -- detail: outside 1-65535
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
profile "gateway-worker" {
  health "tcp" {
    port = 65536 # ERROR: Invalid port -- detail: outside 1-65535
  }
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
  port    = 70000 # ERROR: Invalid port -- detail: outside 1-65535
}
