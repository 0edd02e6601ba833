cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
ssh {
  host_key_policy = "trust" # ERROR: Unknown host_key_policy
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "10.0.0.22"
}
