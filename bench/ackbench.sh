#!/usr/bin/env bash
# ackbench: the ack server side by side with its references (BENCHMARKS.md).
#
# Builds the C recvmmsg/sendmmsg reference server (bench/ackserver.c), the
# plain Go ReadFromUDP loop (bench/plainack), udpserver (cmd/udpserver, run
# with --rate-limit 0) and the C closed-loop generator (bench/loadgen.c), then
# loads each server in turn with the same generator: 120-byte DATA, a fresh
# message ID each, 64 and 1 requests in flight, loopback only. Rounds are
# interleaved (every server in every cell of a round before the next round,
# the order rotated each round), so the machine's drift hits all servers
# alike. Two settings:
#   none  no pinning: the scheduler places server and generator;
#   same  server and generator both on core 0 (taskset -c 0): CPU cost per
#         exchange, the setting of a small machine or device.
# (Server on one core and load on another is left out: a VM that wakes an
# idle vCPU slowly measures its wake-up latency, not the servers.)
#
# Prints every run, then a table of medians over the rounds (acks/s, p99 µs)
# and the median of the per-round ratios to C, and a table of each server's
# CPU time per acknowledgement (from /proc/PID/stat, so only as fine as the
# clock tick: about 1 % over a 3 s run).
#
# Usage: bench/ackbench.sh            (from anywhere; needs cc, go, taskset)
# Environment:
#   ROUNDS=3 SECONDS_PER_RUN=3 SETTINGS="none same" INFLIGHT="64 1"
#   OLD_UDPSERVER=/path/to/udpserver  adds that binary as a fourth server
#                                     ("udpserver-old"), to compare two builds
#   UDPSERVER_FLAGS=...               flags for udpserver (OLD_UDPSERVER_FLAGS for the old
#                                     one; default: the same as UDPSERVER_FLAGS). The generator sends one fresh ID
#                                     after another from one socket, and udpserver keeps
#                                     every exchange for the whole de-duplication window,
#                                     refusing a sender's new IDs with NACK busy past its
#                                     share (16384 per 120 s by default; the run warns). So
#                                     udpserver runs with --dedup-window 0.2 and shares as
#                                     large as the table unless UDPSERVER_FLAGS says else.
#   OUT=/tmp/ackbench                  where binaries and the log go
# As root it runs inside a network namespace of its own (unshare -n, loopback
# up), so nothing can leave the machine; otherwise on the host's loopback.
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECONDS_PER_RUN:-3}
SETTINGS=${SETTINGS:-none same}
INFLIGHT=${INFLIGHT:-64 1}
OUT=${OUT:-/tmp/ackbench}
UDPSERVER_FLAGS=${UDPSERVER_FLAGS---dedup-window 0.2 --dedup-per-source 262144 --dedup-per-host 262144}
mkdir -p "$OUT"
LOG=$OUT/runs.txt

if [ -z "${ACKBENCH_NS:-}" ]; then
	echo "building into $OUT" >&2
	cc -O2 -o "$OUT/ackserver" bench/ackserver.c
	cc -O2 -o "$OUT/loadgen" bench/loadgen.c
	go build -o "$OUT/plainack" ./bench/plainack
	go build -o "$OUT/udpserver" ./cmd/udpserver
	if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
		export ACKBENCH_NS=1 OUT
		exec unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
	fi
fi

: >"$LOG"
BASE=29800
names=(C plain-Go udpserver)
cmds=("$OUT/ackserver 127.0.0.1 PORT"
	"$OUT/plainack 127.0.0.1:PORT"
	"$OUT/udpserver --quiet --no-announce --rate-limit 0 --sockets 1 $UDPSERVER_FLAGS --listen 127.0.0.1:PORT")
if [ -n "${OLD_UDPSERVER:-}" ]; then
	names+=(udpserver-old)
	cmds+=("$OLD_UDPSERVER --quiet --no-announce --rate-limit 0 --sockets 1 ${OLD_UDPSERVER_FLAGS-$UDPSERVER_FLAGS} --listen 127.0.0.1:PORT")
fi
nsrv=${#names[@]}

pids=()
stop_servers() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap stop_servers EXIT

# start_servers SETTING: one process per server, port BASE+i.
start_servers() {
	local pin=() i
	[ "$1" = same ] && pin=(taskset -c 0)
	for i in $(seq 0 $((nsrv - 1))); do
		local port=$((BASE + i))
		# shellcheck disable=SC2086 # the command is split on purpose
		"${pin[@]}" ${cmds[$i]//PORT/$port} >/dev/null 2>"$OUT/server-$i.err" &
		pids+=($!)
	done
	for i in $(seq 0 $((nsrv - 1))); do
		local port=$((BASE + i)) t=0
		until ss -Hlun "sport = :$port" | grep -q .; do
			sleep 0.05
			t=$((t + 1))
			[ $t -lt 100 ] || { echo "server ${names[$i]} did not start" >&2; cat "$OUT/server-$i.err" >&2; exit 1; }
		done
	done
}

# ticks PID: user+system CPU time of a process, in clock ticks.
HZ=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# load SETTING PORT INFLIGHT SECONDS: prints "acks/s p50 p99 lost nacks".
load() {
	local pin=()
	[ "$1" = same ] && pin=(taskset -c 0)
	"${pin[@]}" "$OUT/loadgen" 127.0.0.1 "$2" "$3" "$4" |
		awk '{print $1, $4, $7, $10, $12}'
}

for r in $(seq 1 "$ROUNDS"); do
	for s in $SETTINGS; do
		start_servers "$s"
		for i in $(seq 0 $((nsrv - 1))); do load "$s" $((BASE + i)) 64 0.5 >/dev/null; done # warm-up
		for f in $INFLIGHT; do
			for k in $(seq 0 $((nsrv - 1))); do
				i=$(((k + r - 1) % nsrv)) # rotate the order each round
				t0=$(ticks "${pids[$i]}")
				res=$(load "$s" $((BASE + i)) "$f" "$SECS")
				t1=$(ticks "${pids[$i]}")
				# shellcheck disable=SC2086 # res is five words on purpose
				set -- $res
				cpu=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v a="$1" -v s="$SECS" 'BEGIN { printf "%.2f", (a > 0 ? d / hz * 1e6 / (a * s) : 0) }')
				printf 'round %d  pin %-4s  inflight %-2s  %-13s  acks/s %s  p50 %s  p99 %s  lost %s  cpu_us/ack %s  nacks %s\n' \
					"$r" "$s" "$f" "${names[$i]}" "$1" "$2" "$3" "$4" "$cpu" "$5" | tee -a "$LOG" >&2
				if [ "$5" != 0 ]; then
					echo "warning: ${names[$i]} refused $5 requests (NACK): acks/s counts ACKs only" >&2
				fi
			done
		done
		stop_servers
	done
done

# Summary: medians over rounds, and the median of per-round ratios to C.
awk -v names="${names[*]}" -v settings="$SETTINGS" -v inflight="$INFLIGHT" '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{ r = $2; s = $4; f = $6; n = $7; acks[s, f, n, r] = $9; p99[s, f, n, r] = $13; cpu[s, f, n, r] = $17; rounds[r] = 1 }
END {
	ns = split(names, N, " "); nset = split(settings, S, " "); nf = split(inflight, F, " ")
	printf "\n| pinning | in flight |"
	for (i = 1; i <= ns; i++) printf " %s acks/s (p99 µs) |", N[i]
	for (i = 2; i <= ns; i++) printf " %s / C |", N[i]
	printf "\n|---|---|"; for (i = 1; i < 2 * ns; i++) printf "---|"; printf "\n"
	for (a = 1; a <= nset; a++) for (b = 1; b <= nf; b++) {
		printf "| %s | %s |", S[a] == "same" ? "server and load on core 0" : "none", F[b]
		for (i = 1; i <= ns; i++) {
			k = 0; delete x; delete y
			for (r in rounds) { k++; x[k] = acks[S[a], F[b], N[i], r]; y[k] = p99[S[a], F[b], N[i], r] }
			printf " %.1fk (%.0f) |", median(x, k) / 1000, median(y, k)
		}
		for (i = 2; i <= ns; i++) {
			k = 0; delete x; delete y
			for (r in rounds) { k++; x[k] = acks[S[a], F[b], N[i], r] / acks[S[a], F[b], N[1], r]; y[k] = p99[S[a], F[b], N[i], r] / p99[S[a], F[b], N[1], r] }
			printf " %.2f× (p99 %.2f×) |", median(x, k), median(y, k)
		}
		printf "\n"
	}
	printf "\nServer CPU per acknowledgement (user+system µs, median over rounds; coarse: clock ticks):\n\n| pinning | in flight |"
	for (i = 1; i <= ns; i++) printf " %s |", N[i]
	printf "\n|---|---|"; for (i = 1; i <= ns; i++) printf "---|"; printf "\n"
	for (a = 1; a <= nset; a++) for (b = 1; b <= nf; b++) {
		printf "| %s | %s |", S[a] == "same" ? "server and load on core 0" : "none", F[b]
		for (i = 1; i <= ns; i++) {
			k = 0; delete x
			for (r in rounds) { k++; x[k] = cpu[S[a], F[b], N[i], r] }
			printf " %.2f |", median(x, k)
		}
		printf "\n"
	}
}' "$LOG"
