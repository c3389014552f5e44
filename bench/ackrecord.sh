#!/usr/bin/env bash
# ackrecord: perf record of the C reference server and udpserver in turn,
# each with the C closed-loop generator, both on core 0 (the one-core
# setting of bench/ackbench.sh), then the share of user space, of the
# de-duplication table and of the kernel's wake-up paths in each profile
# (BENCHMARKS.md, "Session 5").
#
# Usage: bench/ackrecord.sh [udpserver-binary]   (needs cc, go, perf, taskset)
#   Environment: INFLIGHT="64 1" SECONDS_PER_RUN=3 OUT=/tmp/ackrecord
#   UDPSERVER_FLAGS (as bench/ackbench.sh)
# As root it runs inside a network namespace of its own (unshare -n).
set -euo pipefail
cd "$(dirname "$0")/.."
INFLIGHT=${INFLIGHT:-64 1}
SECS=${SECONDS_PER_RUN:-3}
OUT=${OUT:-/tmp/ackrecord}
mkdir -p "$OUT"
. bench/ackprep.sh
ack_prepare ACKRECORD "$@"
set -- "${ACK_SERVERS[@]}"
port=29891
for f in $INFLIGHT; do
	for b in C "$1"; do
		if [ "$b" = C ]; then
			taskset -c 0 "$OUT/ackserver" 127.0.0.1 $port >/dev/null 2>&1 &
		else
			# shellcheck disable=SC2086 # the flags are split on purpose
			taskset -c 0 "$b" --quiet --no-announce --rate-limit 0 --sockets 1 $UDPSERVER_FLAGS --listen 127.0.0.1:$port >/dev/null 2>&1 &
		fi
		srv=$!
		until ss -Hlun "sport = :$port" | grep -q .; do sleep 0.05; done
		taskset -c 0 "$OUT/loadgen" 127.0.0.1 $port 64 0.3 >/dev/null # warm-up
		name=$([ "$b" = C ] && echo C || basename "$b")
		data=$OUT/perf-$name-$f.data
		perf record -q -e cpu-clock -F 4999 -g -p $srv -o "$data" 2>/dev/null &
		ps=$!
		sleep 0.1
		res=$(taskset -c 0 "$OUT/loadgen" 127.0.0.1 $port "$f" "$SECS")
		kill -INT $ps
		wait $ps || true
		kill $srv
		wait $srv 2>/dev/null || true
		echo "== $name, $f in flight: $res"
		# Self time by object (user space against kernel), then the inclusive
		# share of the symbols BENCHMARKS.md discusses.
		perf report -i "$data" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%' | head -4
		perf report -i "$data" --no-children --sort sym --stdio -g none 2>/dev/null |
			awk '/dedupTable/ { t += $1 } END { printf "   de-duplication table (self): %.2f%%\n", t }'
		perf report -i "$data" --children --sort sym --stdio -g none 2>/dev/null |
			grep -E '\] (sock_wfree|sock_def_readable|runtime\.findRunnable|internal/poll\.\(\*FD\)\.Raw(Read|Write)|github.com/udpkit/udpkit/udpserver\.\(\*counters\)\.add)$' || true
	done
done
