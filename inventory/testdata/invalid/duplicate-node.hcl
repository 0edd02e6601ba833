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
  host    = "10.0.0.22"
}
node "gw-1" { # ERROR: Duplicate node -- detail: already defined at testdata/invalid/duplicate-node.hcl:8
  profile = "gateway-worker"
  host    = "10.0.0.23"
}
