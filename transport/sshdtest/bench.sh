#!/bin/sh
# bench.sh: run transport's benchmarks against real sshd nodes (drover vs OpenSSH) and print
# them side by side with the targets of issue 3. Extra arguments go to `go test`.
#
#   sh transport/sshdtest/bench.sh                 # from the repository root
#   sh transport/sshdtest/bench.sh -benchtime 5x   # more iterations
#
# Exit status: go test's. The targets are reported, not enforced (the machine is shared).
set -eu
GO=${GO:-go}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

status=0
"$GO" test -run '^$' -bench . -benchtime 3x -timeout 30m "$@" ./transport/... >"$out" 2>&1 || status=$?
cat "$out"

echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown), $(nproc 2>/dev/null || echo '?') cores"
awk '
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
		printf "  ratio %s (target < 0.7): %s\n", m["ratio"], (m["ratio"] < 0.7 ? "met" : "MISSED")
	} else if ("scp-s/op" in m) {
		printf "\n%s\n", name
		printf "  %-10s %8s s  %8s MiB/s   client cpu %8s ms   sshd cpu %8s ms\n", "drover", m["drover-s/op"], m["drover-MiB/s"], m["drover-cpu-ms/op"], m["drover-sshd-cpu-ms/op"]
		printf "  %-10s %8s s  %8s MiB/s   client cpu %8s ms   sshd cpu %8s ms\n", "scp", m["scp-s/op"], m["scp-MiB/s"], m["scp-cpu-ms/op"], m["scp-sshd-cpu-ms/op"]
		printf "  ratio %s (target <= 1.1): %s", m["ratio"], (m["ratio"] <= 1.1 ? "met" : "MISSED")
		if ("whatif-ratio" in m) printf "   [what-if: %s s, ratio %s]", m["whatif-s/op"], m["whatif-ratio"]
		printf "\n"
	}
}' "$out"
exit "$status"
