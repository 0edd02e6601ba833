# API Manager 4.7 on the split distributions: two API control planes, two
# traffic managers and three universal gateways. Each distribution is its own
# product with its own pack, home directory and startup script:
#
#   control-plane   wso2am-acp-4.7.0           bin/api-cp.sh
#   traffic-manager wso2am-tm-4.7.0            bin/traffic-manager.sh
#   gateway-worker  wso2am-universal-gw-4.7.0  bin/gateway.sh
#
# The cluster's home is named after the all-in-one product; a node running
# another pack gets the sibling directory named after its own product
# (/opt/wso2/wso2am-acp-4.7.0, ...), as the packs unzip. Set home in a profile
# or node block to put it elsewhere.

cluster "apim47" {
  product = "wso2am"
  version = "4.7.0"
  home    = "/opt/wso2/wso2am-4.7.0"
}

ssh {
  user        = "wso2"
  known_hosts = "~/.ssh/known_hosts"
}

# Each profile below names its own pack, so the update block only picks the
# strategy. A profile without a pack would use a pack = "..." given here.
update {
  strategy = "side-by-side"
}

# No start order is documented for 4.5+; drover's default follows the
# dependencies: control planes (and key managers), traffic managers, gateways.
rollout {
  max_unavailable  = 1
  health_timeout   = "10m"
  min_healthy_time = "10s"
}

profile "control-plane" {
  pack = "packs/wso2am-acp-4.7.0-u5.zip"
}

profile "traffic-manager" {
  pack = "packs/wso2am-tm-4.7.0-u5.zip"
}

profile "gateway-worker" {
  pack            = "packs/wso2am-universal-gw-4.7.0-u5.zip"
  max_unavailable = "34%"
  hook "before_stop"   { local = "./lb.sh drain ${node.host}" }
  hook "after_healthy" { local = "./lb.sh enable ${node.host}" }
}

node "acp-1" {
  profile = "control-plane"
  host    = "192.0.2.11"
}
node "acp-2" {
  profile = "control-plane"
  host    = "192.0.2.12"
}
node "tm-1" {
  profile = "traffic-manager"
  host    = "192.0.2.21"
}
node "tm-2" {
  profile = "traffic-manager"
  host    = "192.0.2.22"
}
node "gw-1" {
  profile = "gateway-worker"
  host    = "192.0.2.31"
}
node "gw-2" {
  profile = "gateway-worker"
  host    = "192.0.2.32"
}
node "gw-3" {
  profile = "gateway-worker"
  host    = "192.0.2.33"
}
