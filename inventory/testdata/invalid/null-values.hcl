cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
ssh {
  jump = ["bastion", null] # ERROR: Unsuitable value type -- detail: null value is not allowed
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
rollout {
  max_unavailable = null
}
profile "gateway-worker" {
  max_unavailable = true ? null : 1
  hook "before_stop" { local = null }
  health "http" { url = null }
}
node "gw-1" {
  profile = "gateway-worker"
  host    = null
  vars    = { a = null }
}
