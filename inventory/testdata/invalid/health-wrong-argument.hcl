cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
profile "gateway-worker" {
  health "tcp" {
    port    = 8243
    pattern = "started" # ERROR: Argument not valid for this health check -- detail: which takes "port"
  }
  health "http" {
    url    = "http://127.0.0.1:9763/services/Version"
    status = 42 # ERROR: Invalid status -- detail: (100-599)
  }
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
