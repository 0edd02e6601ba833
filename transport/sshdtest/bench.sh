#!/bin/sh
# bench.sh (make bench): drover's benchmarks in one run, side by side with the tools an operator
# would use instead, printed as ratios with the targets of issue 14 and a summary table.
#
#   sh transport/sshdtest/bench.sh                 # from the repository root
#   sh transport/sshdtest/bench.sh -count 2        # extra arguments go to every `go test`
#
# It runs, each against real sshd nodes started inside the benchmarks:
#   ./transport/...      exec fan-out vs OpenSSH ssh, upload vs scp (one node, four nodes)
#   ./tasks/...          delta staging (bytes shipped vs the whole pack)
#   ./cmd/drover/cli/    plan and facts on 100 / 1,000 in-process SSH nodes
#   ./cmd/drover/e2e/    a rollout of the 8-node lab, drover vs a hand-written ssh/scp script,
#                        with and without a 512 MiB index per node
# BENCHTIME (default 3x) is the transport benchmarks' -benchtime; TASKS_BENCHTIME and
# E2E_BENCHTIME (default 1x) the others'.
#
# Exit status: non-zero when a `go test` failed. The targets are reported, not enforced (the
# machine is shared: read the load average printed with them).
set -eu
GO=${GO:-go}
out=$(mktemp "${TMPDIR:-/tmp}/drover-bench.XXXXXX")
trap 'rm -f "$out" "$out.part"' EXIT

status=0
bench() { # label, -bench pattern, -benchtime, packages...
	label=$1 pattern=$2 benchtime=$3
	shift 3
	echo "==> $label"
	rc=0
	"$GO" test -run '^$' -bench "$pattern" -benchtime "$benchtime" -timeout 30m $extra "$@" >"$out.part" 2>&1 || rc=$?
	cat "$out.part"
	cat "$out.part" >>"$out"
	if [ "$rc" -ne 0 ]; then
		echo "bench.sh: $label: go test exited with $rc"
		status=$rc
	fi
}
extra="$*"
started=$(date +%s)
bench "transport: drover vs OpenSSH" . "${BENCHTIME:-3x}" ./transport/...
bench "tasks: delta staging" . "${TASKS_BENCHTIME:-1x}" ./tasks/...
bench "cli: plan and facts on 100 / 1,000 in-process nodes" 'PlanScale|FactsScale' "${TASKS_BENCHTIME:-1x}" ./cmd/drover/cli/
bench "e2e: rollout vs a hand-written script" RolloutVsScript "${E2E_BENCHTIME:-1x}" ./cmd/drover/e2e/

echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown), $(nproc 2>/dev/null || echo '?') cores; bench took $(($(date +%s) - started)) s"
awk '
function ok(cond) { return cond ? "met" : "MISSED" }
function row(figure, value, target, verdict) {
	rows[++nrows] = sprintf("  %-58s %14s  %-12s %s", figure, value, target, verdict)
}
# go test prints "BenchmarkName-P  N  value unit  value unit ..."
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	delete m
	for (i = 3; i + 1 <= NF; i += 2) m[$(i + 1)] = $i
	if ("upload/scp" in m) {
		printf "\n%s (one node, tmpfs; seconds per part)\n", name
		for (k in m) if (k ~ /-s\/op$/) { u = k; sub(/-s\/op$/, "", u); printf "  %-28s %8s s\n", u, m[k] }
		printf "  upload/scp %s   sftp-write/scp %s   what-if/scp %s\n", m["upload/scp"], m["sftp-write/scp"], m["whatif/scp"]
	} else if ("openssh-ms/op" in m) {
		printf "\n%s\n", name
		printf "  %-10s %10s ms   client cpu %8s ms   sshd cpu %8s ms\n", "drover", m["drover-ms/op"], m["drover-cpu-ms/op"], m["drover-sshd-cpu-ms/op"]
		printf "  %-10s %10s ms   client cpu %8s ms   sshd cpu %8s ms\n", "openssh", m["openssh-ms/op"], m["openssh-cpu-ms/op"], m["openssh-sshd-cpu-ms/op"]
		printf "  ratio %s (target < 0.7): %s\n", m["ratio"], ok(m["ratio"] < 0.7)
		row("exec fan-out, 50 nodes: drover/OpenSSH", m["ratio"] "x", "< 0.7x", ok(m["ratio"] < 0.7))
	} else if ("scp-s/op" in m) {
		nodes = name; sub(/-nodes$/, "", nodes); sub(/.*\//, "", nodes)
		dest = name; sub(/\/[^\/]*$/, "", dest); sub(/.*\//, "", dest)
		target = (nodes == 1) ? 1.0 : 0.95
		printf "\n%s\n", name
		printf "  %-10s %8s s  %8s MiB/s   client cpu %8s ms   sshd cpu %8s ms\n", "drover", m["drover-s/op"], m["drover-MiB/s"], m["drover-cpu-ms/op"], m["drover-sshd-cpu-ms/op"]
		printf "  %-10s %8s s  %8s MiB/s   client cpu %8s ms   sshd cpu %8s ms\n", "scp", m["scp-s/op"], m["scp-MiB/s"], m["scp-cpu-ms/op"], m["scp-sshd-cpu-ms/op"]
		printf "  ratio %s (target <= %s): %s", m["ratio"], target, ok(m["ratio"] <= target)
		if ("whatif-ratio" in m) printf "   [before (write, then hash on the node): %s s, ratio %s]", m["whatif-s/op"], m["whatif-ratio"]
		printf "\n"
		row(sprintf("upload 512 MiB to %s node(s), %s: drover/scp", nodes, dest), m["ratio"] "x", "<= " target "x", ok(m["ratio"] <= target))
	} else if ("wall-ratio" in m) {
		idx = name; sub(/.*index-/, "", idx)
		printf "\n%s (8 nodes, min_healthy_time 0s; seconds; downtime is per node)\n", name
		printf "  %-8s wall %7s   downtime %6s (events)  %6s (own account)   above own stop+start %6s\n", "drover", m["drover-wall-s"], m["drover-down-s"], m["drover-record-down-s"], m["drover-over-own-s"]
		printf "  %-8s wall %7s   downtime %6s (events)  %6s (own account)   above own stop+start %6s\n", "script", m["script-wall-s"], m["script-down-s"], m["script-said-down-s"], m["script-over-own-s"]
		printf "  server own stop+start %s   wall ratio %s   downtime ratio %s\n", m["server-own-s"], m["wall-ratio"], m["down-ratio"]
		steps = ""
		for (i = 3; i + 1 <= NF; i += 2) if ($(i + 1) ~ /^step-/) { st = $(i + 1); sub(/^step-/, "", st); sub(/-s$/, "", st); steps = steps sprintf(" %s %s", st, $i) }
		if (steps != "") printf "  drover per node, mean s per step:%s\n", steps
		row(sprintf("rollout wall, index %s: drover/script", idx), m["wall-ratio"] "x", "<= 1.1x", ok(m["wall-ratio"] <= 1.1))
		row(sprintf("downtime/node above server stop+start, index %s", idx), m["drover-over-own-s"] " s", "<= 0.3 s", ok(m["drover-over-own-s"] <= 0.3))
		if (idx == "0MiB")
			row(sprintf("downtime/node, index %s: drover/script", idx), m["down-ratio"] "x", "(info)", "")
		else
			row(sprintf("downtime/node, index %s: drover/script", idx), m["down-ratio"] "x", "<= 1.0x", ok(m["down-ratio"] <= 1.0))
	} else if ("shipped-%" in m) {
		printf "\n%s\n", name
		printf "  shipped %s MiB of a %s MiB pack (%s%%)   delta %s s   whole pack %s s\n", m["shipped-MiB"], m["pack-MiB"], m["shipped-%"], m["delta-s"], m["whole-s"]
		row("bytes shipped per node, delta/whole pack", m["shipped-%"] "%", "< 5%", ok(m["shipped-%"] < 5))
		if (m["whole-s"] > 0) row("staging time per node, delta/whole pack", sprintf("%.2fx", m["delta-s"] / m["whole-s"]), "(info)", "")
	} else if ("s/plan" in m) {
		nodes = name; sub(/.*nodes=/, "", nodes)
		plan[nodes] = m["s/plan"]
		printf "\n%s\n", name
		printf "  %s s/plan   %s round trips/node   %s KiB heap/node   %s ms cpu/node\n", m["s/plan"], m["rtt/node"], m["heap-KiB/node"], m["cpu-ms/node"]
		if (nodes == 1000) row("plan on 1,000 nodes", m["s/plan"] " s", "< 10 s", ok(m["s/plan"] < 10))
	} else if ("s/facts" in m) {
		nodes = name; sub(/.*nodes=/, "", nodes)
		printf "\n%s\n", name
		printf "  %s s/facts   %s round trips/node   %s KiB heap/node   %s ms cpu/node\n", m["s/facts"], m["rtt/node"], m["heap-KiB/node"], m["cpu-ms/node"]
		if (nodes == 1000) row("facts on 1,000 nodes", m["s/facts"] " s", "< 10 s", ok(m["s/facts"] < 10))
	}
}
END {
	if (("100" in plan) && ("1000" in plan) && plan["100"] > 0) {
		g = plan["1000"] / plan["100"]
		row("plan time growth, 1,000 / 100 nodes (linear: 10x)", sprintf("%.1fx", g), "<= 11x", ok(g <= 11))
	}
	want["exec fan-out"] = 0; want["upload"] = 0; want["rollout wall"] = 0; want["bytes shipped"] = 0; want["plan on"] = 0
	for (i = 1; i <= nrows; i++) for (k in want) if (index(rows[i], "  " k) == 1) want[k]++
	miss["exec fan-out"] = "exec fan-out vs OpenSSH (BenchmarkFanout)"
	miss["upload"] = "upload vs scp (BenchmarkUpload)"
	miss["rollout wall"] = "rollout vs a hand-written script (BenchmarkRolloutVsScript)"
	miss["bytes shipped"] = "delta staging (BenchmarkDeltaStaging)"
	miss["plan on"] = "plan on 1,000 nodes (BenchmarkPlanScale)"
	printf "\nSummary\n  %-58s %14s  %-12s %s\n", "figure", "value", "target", ""
	for (i = 1; i <= nrows; i++) print rows[i]
	for (k in want) if (!want[k]) printf "  %-58s %14s\n", miss[k], "not run"
}' "$out"
exit "$status"
