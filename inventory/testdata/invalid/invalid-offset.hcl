cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
  offset  = 60000 # ERROR: Invalid offset -- detail: between 0 and 55772
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "10.0.0.22"
  offset  = -1 # ERROR: Invalid offset
}
