#!/usr/bin/env bash
# ackrecord: perf record and perf stat of the C reference server and
# udpserver in turn, each under the C closed-loop generator, then what each
# pays per exchange (BENCHMARKS.md, "Session 6"): CPU time, context switches
# and migrations (perf stat -e task-clock,context-switches,cpu-migrations),
# and the profile's shares turned into ns per acknowledgement: user space,
# the de-duplication table, the kernel, and the kernel's wake-up paths.
#
# Usage: bench/ackrecord.sh [udpserver-binary]   (needs cc, go, perf, taskset)
#   Environment: PIN="same none" (same: server and generator on core 0, the
#   one-core setting of bench/ackbench.sh; none: no pinning) INFLIGHT="64 1"
#   SECONDS_PER_RUN=3 OUT=/tmp/ackrecord UDPSERVER_FLAGS (as bench/ackbench.sh)
# As root it runs inside a network namespace of its own (unshare -n).
set -euo pipefail
cd "$(dirname "$0")/.."
PIN=${PIN:-same none}
INFLIGHT=${INFLIGHT:-64 1}
SECS=${SECONDS_PER_RUN:-3}
OUT=${OUT:-/tmp/ackrecord}
mkdir -p "$OUT"
. bench/ackprep.sh
ack_prepare ACKRECORD "$@"
set -- "${ACK_SERVERS[@]}"
port=29891
for pin in $PIN; do
	ts=()
	[ "$pin" = same ] && ts=(taskset -c 0)
	for f in $INFLIGHT; do
		for b in C "$1"; do
			if [ "$b" = C ]; then
				"${ts[@]}" "$OUT/ackserver" 127.0.0.1 $port >/dev/null 2>&1 &
			else
				# shellcheck disable=SC2086 # the flags are split on purpose
				"${ts[@]}" "$b" --quiet --no-announce --rate-limit 0 --sockets 1 $UDPSERVER_FLAGS --listen 127.0.0.1:$port >/dev/null 2>&1 &
			fi
			srv=$!
			until ss -Hlun "sport = :$port" | grep -q .; do sleep 0.05; done
			"${ts[@]}" "$OUT/loadgen" 127.0.0.1 $port 64 0.3 >/dev/null # warm-up
			name=$([ "$b" = C ] && echo C || basename "$b")
			data=$OUT/perf-$name-$pin-$f.data
			stat=$OUT/stat-$name-$pin-$f.txt
			perf record -q -e cpu-clock -F 4999 -g -p $srv -o "$data" 2>/dev/null &
			pr=$!
			perf stat -x, -e task-clock,context-switches,cpu-migrations -p $srv -o "$stat" &
			ps=$!
			sleep 0.1
			res=$("${ts[@]}" "$OUT/loadgen" 127.0.0.1 $port "$f" "$SECS")
			kill -INT $pr $ps
			wait $pr || true
			wait $ps || true
			kill $srv
			wait $srv 2>/dev/null || true
			echo "== $name, pin $pin, $f in flight: $res"
			# loadgen: "N replies/s ..."; perf stat -x,: value,unit,event,...
			# The counters ran 0.1 s before the load: a small overestimate, alike for both.
			acks=$(echo "$res" | awk -v s="$SECS" '{ print $1 * s }')
			awk -F, -v n="$acks" '$3 == "task-clock" { c = $1 } $3 == "context-switches" { x = $1 } $3 == "cpu-migrations" { m = $1 }
				END { printf "   CPU %.2f µs/ack, %.3f context switches/ack, %.4f migrations/ack\n", c * 1000 / n, x / n, m / n }' "$stat"
			cpu=$(awk -F, -v n="$acks" '$3 == "task-clock" { printf "%.1f", $1 * 1e6 / n }' "$stat") # ns/ack
			# Self time by object and of the table; inclusive time of the
			# wake-up paths, the Go scheduler and sysmon; each as % and ns/ack.
			{
				perf report -i "$data" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%' | head -3
				perf report -i "$data" --no-children --sort sym --stdio -g none 2>/dev/null |
					awk '/dedupTable/ { t += $1 } END { printf "%.2f%%  de-duplication table (self)\n", t }'
				perf report -i "$data" --children --sort sym --stdio -g none 2>/dev/null |
					grep -E '\] (sock_wfree|sock_def_readable|ep_poll_callback|runtime\.(findRunnable|sysmon|entersyscall|exitsyscall)|github.com/udpkit/udpkit/udpserver\.\(\*counters\)\.add)$' |
					awk '{ print $1, $NF }' || true
			} | awk -v cpu="$cpu" '{ v = $1; sub(/%/, "", v); $1 = ""; printf "   %6.2f%% %7.0f ns/ack %s\n", v, v * cpu / 100, $0 }'
		done
	done
done
