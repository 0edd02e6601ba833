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
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "10.0.0.21" # WARNING: Two nodes at one address -- detail: like node "gw-1" defined at testdata/invalid/same-address-warning.hcl:8
  port    = 22
}
profile "traffic-manager" { # WARNING: Profile without nodes -- detail: No node has profile "traffic-manager"
}
