node "gw-2" {
  profile = "gateway-worker"
  host    = "10.0.0.22"
}
node "gw-1" { # ERROR: Duplicate node -- detail: already defined at testdata/invalid/duplicate-node-across-files/a-cluster.hcl:8
  profile = "gateway-worker"
  host    = "10.0.0.23"
}
