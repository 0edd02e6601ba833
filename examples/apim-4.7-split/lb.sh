#!/bin/sh
# Stand-in for your load balancer's API: drain or enable one backend.
# Replace the echo with the real call (an HTTP request to the LB, a change to
# an include file and a reload, ...).
echo "lb: $1 $2"
