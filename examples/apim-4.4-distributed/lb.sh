#!/bin/sh
# Example load-balancer hook: replace with your LB's API (HAProxy runtime API,
# an F5 iControl call, a cloud CLI, ...). Usage: lb.sh drain|enable POOL HOST
set -eu
action=$1 pool=$2 host=$3
echo "lb: $action $host in pool $pool"
