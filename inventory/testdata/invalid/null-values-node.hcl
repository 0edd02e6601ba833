cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
rollout {
  max_unavailable = null
}
profile "gateway-worker" {
  max_unavailable = true ? null : 1 # ERROR: Invalid max_unavailable -- detail: must be set to a value
  hook "before_stop" { local = null } # ERROR: Hook needs one command -- detail: not neither
  health "http" { url = null } # ERROR: Missing url
}
node "gw-1" {
  profile = "gateway-worker"
  host    = null
  vars    = { a = null } # ERROR: Unsuitable value type
}
node "gw-2" { # ERROR: Missing host
  profile = "gateway-worker"
  host    = null
}
