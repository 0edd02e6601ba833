cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
carry = ["repository/conf/jndi.properties", "/etc/passwd"] # ERROR: Invalid carry path -- detail: must be a path relative to the product home that stays inside it
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
