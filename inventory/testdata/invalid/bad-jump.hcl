cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
ssh {
  jump = [
    "ops@bastion:22",
    "ops@", # ERROR: Invalid jump host -- detail: "user@host:port"
    "fe80::1:22", # ERROR: Invalid jump host -- detail: brackets
    "bastion:99999", # ERROR: Invalid jump host -- detail: outside 1-65535
    "bastion:", # ERROR: Invalid jump host -- detail: empty port
    "ssh://ops@bastion:2222",
    "ssh://bastion",
    "ssh://ops@bastion/x", # ERROR: Invalid jump host -- detail: ssh://user@host:port
  ]
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
