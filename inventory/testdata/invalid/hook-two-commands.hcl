cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
profile "gateway-worker" {
  hook "before_stop" { # ERROR: Hook needs one command -- detail: not both
    local  = "./lb.sh drain"
    remote = "sync"
  }
  hook "after_start" {} # ERROR: Hook needs one command -- detail: not neither
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
