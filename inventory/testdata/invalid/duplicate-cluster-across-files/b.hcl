cluster "other" { # ERROR: Duplicate cluster block -- detail: already defined at testdata/invalid/duplicate-cluster-across-files/a.hcl:1
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
