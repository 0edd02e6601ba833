cluster "apim" {
  version = "4.4.0"
  home    = "/opt/wso2/wso2am-4.4.0"
}
update {
  pack = "packs/wso2am-4.4.0-u1.zip"
}
profile "gateway-worker" {
  file "/etc/passwd" { source = "x" } # ERROR: Invalid file path -- detail: relative to the product home
  file "repository/conf/deployment.toml" { source = "missing.toml" } # ERROR: File not found -- detail: relative to the file that holds them
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "10.0.0.21"
}
