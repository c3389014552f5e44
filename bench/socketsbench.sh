#!/usr/bin/env bash
# socketsbench: how udpserver --sockets N (SO_REUSEPORT) scales with many
# clients (BENCHMARKS.md). Runs udpserver --rate-limit 0 with --sockets 1, 2,
# ... (SOCKETS) in turn, interleaved over ROUNDS, each loaded by CLIENTS
# C closed-loop generators at once (bench/loadgen.c, one socket and source
# port each, INFLIGHT requests outstanding each), and prints the total acks/s.
# The kernel picks a socket per datagram by a hash of its 4-tuple, so one
# client always lands on one socket: with a single client --sockets cannot
# help, with many it spreads them.
#
# Usage: bench/socketsbench.sh   (ROUNDS=3 SECONDS_PER_RUN=3 CLIENTS=4
#        INFLIGHT=16 SOCKETS="1 2" OUT=/tmp/socketsbench UDPSERVER_FLAGS=...
#        UDPSERVER=/path/to/udpserver: that binary instead of one built here)
# As root it runs inside a network namespace of its own (unshare -n).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECONDS_PER_RUN:-3}
CLIENTS=${CLIENTS:-4}
INFLIGHT=${INFLIGHT:-16}
SOCKETS=${SOCKETS:-1 2}
OUT=${OUT:-/tmp/socketsbench}
# The generators send fresh IDs: a short de-duplication window and shares as
# large as the table, or the server answers NACK busy past the shares.
# --spread-by-tuple: the generators all run on 127.0.0.1, and the default
# source-address spreading (BENCHMARKS.md "Floods") would put them all on one
# socket; this script measures spreading many clients of one host.
UDPSERVER_FLAGS=${UDPSERVER_FLAGS---dedup-window 0.2 --dedup-per-source 262144 --dedup-per-host 262144 --spread-by-tuple}
mkdir -p "$OUT"
if [ -z "${SOCKETSBENCH_NS:-}" ]; then
	cc -O2 -o "$OUT/loadgen" bench/loadgen.c
	[ -n "${UDPSERVER:-}" ] || go build -o "$OUT/udpserver" ./cmd/udpserver
	if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
		export SOCKETSBENCH_NS=1 OUT
		exec unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
	fi
fi
port=29870
UDPSERVER=${UDPSERVER:-$OUT/udpserver}
for r in $(seq 1 "$ROUNDS"); do
	for n in $SOCKETS; do
		# shellcheck disable=SC2086 # the flags are split on purpose
		"$UDPSERVER" --quiet --no-announce --rate-limit 0 $UDPSERVER_FLAGS --sockets "$n" --listen 127.0.0.1:$port >/dev/null 2>&1 &
		srv=$!
		until ss -Hlun "sport = :$port" | grep -q .; do sleep 0.05; done
		for c in $(seq 1 "$CLIENTS"); do "$OUT/loadgen" 127.0.0.1 $port "$INFLIGHT" "$SECS" >"$OUT/c$c.txt" & done
		wait $(jobs -p | grep -v "^$srv\$") 2>/dev/null || true
		total=$(awk '{ s += $1 } END { printf "%.0f", s }' "$OUT"/c*.txt)
		nacks=$(awk '{ s += $12 } END { printf "%.0f", s }' "$OUT"/c*.txt)
		printf 'round %d  sockets %-2s  clients %d x %d in flight  acks/s %s  nacks %s\n' "$r" "$n" "$CLIENTS" "$INFLIGHT" "$total" "$nacks"
		kill $srv; wait $srv 2>/dev/null || true
		rm -f "$OUT"/c*.txt
	done
done
