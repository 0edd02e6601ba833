cluster "apim32" {
  version = "3.2.0"
  home    = "/opt/wso2/wso2am-3.2.0"
}
update {
  pack = "packs/wso2am-3.2.0-u1.zip"
}
profile "control-plane" { # ERROR: Unknown profile -- detail: Valid profiles: api-key-manager, traffic-manager, api-publisher, api-devportal, gateway-worker
}
node "cp-1" {
  profile = "control-plane" # ERROR: Unknown profile -- detail: API Manager 3.2.0
  host    = "10.0.0.11"
}
