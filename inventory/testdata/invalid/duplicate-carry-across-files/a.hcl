cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
carry = ["bin/custom-env.sh"]
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
