cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
ssh {
  connect_timeout = "10" # ERROR: Invalid duration -- detail: "30s"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
rollout {
  health_timeout   = "ten minutes" # ERROR: Invalid duration -- detail: health_timeout = "ten minutes"
  min_healthy_time = "-5s" # ERROR: Invalid duration -- detail: not a positive duration
  stop_timeout     = "2 m" # ERROR: Invalid duration
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
