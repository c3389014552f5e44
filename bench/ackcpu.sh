#!/usr/bin/env bash
# ackcpu: server CPU per acknowledgement, measured with perf stat rather than
# from clock ticks (bench/ackbench.sh) or acks/s, which on a shared machine
# swing with the neighbours (BENCHMARKS.md). Each server in turn (the C
# reference bench/ackserver.c, then every udpserver binary given) is loaded by
# the C closed-loop generator (bench/loadgen.c) while `perf stat -e task-clock
# -p` counts the server's CPU time for exactly the generator's run; rounds are
# interleaved. Prints one line per run and the medians per server.
#
# Usage: bench/ackcpu.sh [udpserver-binary...]   (needs cc, go, perf, taskset)
#   With no argument: a udpserver built from this tree.
#   Environment: ROUNDS=5 SECONDS_PER_RUN=2 PIN=same (server and load on core 0;
#   none: no pinning) INFLIGHT=1 OUT=/tmp/ackcpu UDPSERVER_FLAGS (as ackbench.sh)
# As root it runs inside a network namespace of its own (unshare -n).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
SECS=${SECONDS_PER_RUN:-2}
PIN=${PIN:-same}
INFLIGHT=${INFLIGHT:-1}
OUT=${OUT:-/tmp/ackcpu}
mkdir -p "$OUT"
. bench/ackprep.sh
ack_prepare ACKCPU "$@"
set -- "${ACK_SERVERS[@]}"
port=29870
pin=()
[ "$PIN" = same ] && pin=(taskset -c 0)
names=(C "$@")
LOG=$OUT/runs.txt
: >"$LOG"
for r in $(seq 1 "$ROUNDS"); do
	for name in "${names[@]}"; do
		if [ "$name" = C ]; then
			"${pin[@]}" "$OUT/ackserver" 127.0.0.1 $port >/dev/null 2>&1 &
		else
			# shellcheck disable=SC2086 # flags are split on purpose
			"${pin[@]}" "$name" --quiet --no-announce --rate-limit 0 --sockets 1 $UDPSERVER_FLAGS --listen 127.0.0.1:$port >/dev/null 2>&1 &
		fi
		pid=$!
		until ss -Hlun "sport = :$port" | grep -q .; do sleep 0.05; done
		"${pin[@]}" "$OUT/loadgen" 127.0.0.1 $port 64 0.3 >/dev/null # warm-up
		res=$(perf stat -x, -e task-clock -p "$pid" -o "$OUT/perf.txt" -- "${pin[@]}" "$OUT/loadgen" 127.0.0.1 $port "$INFLIGHT" "$SECS")
		kill "$pid"
		wait "$pid" 2>/dev/null || true
		ms=$(awk -F, '/task-clock/ { print $1 }' "$OUT/perf.txt")
		# loadgen: "N replies/s  p50 X us  p99 Y us ..."
		echo "$res" | awk -v r="$r" -v n="$name" -v ms="$ms" -v s="$SECS" -v pin="$PIN" -v f="$INFLIGHT" \
			'{ printf "round %d  pin %s  inflight %s  %-28s acks/s %7d  p99 %7s  cpu_us/ack %.2f\n", r, pin, f, n, $1, $7, ms * 1000 / ($1 * s) }' | tee -a "$LOG"
	done
done
awk '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{ n = $7; if (!(n in k)) order[++ns] = n; k[n]++; acks[n, k[n]] = $9; p99[n, k[n]] = $11; cpu[n, k[n]] = $13 }
END {
	printf "\n| server | acks/s | p99 µs | CPU µs/ack |\n|---|---|---|---|\n"
	for (i = 1; i <= ns; i++) {
		n = order[i]; m = k[n]
		for (j = 1; j <= m; j++) { a[j] = acks[n, j]; b[j] = p99[n, j]; c[j] = cpu[n, j] }
		printf "| %s | %.1fk | %.0f | %.2f |\n", n, median(a, m) / 1000, median(b, m), median(c, m)
	}
}' "$LOG"
