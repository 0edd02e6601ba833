#!/usr/bin/env bash
# make demo: a rolling update of a local lab cluster, start to finish.
# Brings a lab up in a temporary folder, shows status and the plan, applies
# it, shows status again, and takes the lab down whatever happens.
set -euo pipefail
drover=${DROVER:-bin/drover}
drover=$(cd "$(dirname "$drover")" && pwd)/$(basename "$drover")
dir=$(mktemp -d "${TMPDIR:-/tmp}/drover-demo.XXXXXX")
cleanup() {
  "$drover" lab down --dir "$dir/lab" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "drover lab up: 6 simulated API Manager 4.4.0 nodes at update level 11, each behind its own SSH server"
"$drover" lab up --dir "$dir/lab"
inv="$dir/lab/drover.hcl"

step "drover status: every node runs level 11"
"$drover" -i "$inv" status

step "drover plan: what apply will do (nothing changes yet)"
"$drover" -i "$inv" plan --compact

step "drover apply --yes: the rolling update (control planes, then traffic managers, then gateways)"
# Its progress goes to stderr, copied to apply.log for the run record's path.
{ "$drover" -i "$inv" apply --yes 2>&1 >/dev/null; } | tee "$dir/apply.log" >&2
record=$(sed -n 's/^run record: //p' "$dir/apply.log")

step "drover status: every node runs level 12; the previous release is kept for rollback"
"$drover" -i "$inv" status --json > "$dir/status.json"
"$drover" -i "$inv" status
total=$(grep -c '"node":' "$dir/status.json")
updated=$(grep -c '"update_level": 12,' "$dir/status.json" || true)
if [ "$updated" != "$total" ] || grep -q '"healthy": false' "$dir/status.json"; then
  echo "demo: only $updated of $total nodes run level 12 and are healthy" >&2
  exit 1
fi

step "drover runs show: where the time went, node by node (# is downtime: stop to healthy)"
"$drover" -i "$inv" runs show "$record"

step "the load balancer stand-in saw each gateway drained and enabled again"
cat "$dir/lab/lb.log"

step "drover lab down: every server the lab started stops"
"$drover" lab down --dir "$dir/lab"
sleep 1
if pgrep -f "$dir/lab" >/dev/null; then
  echo "demo: processes of the lab are still running:" >&2
  pgrep -af "$dir/lab" >&2
  exit 1
fi
echo "no process of the lab is left"
