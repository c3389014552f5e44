#!/usr/bin/env bash
# floodbench: does one flooding source starve another? (BENCHMARKS.md,
# "Floods"; issue 14 item 5). On loopback inside a network namespace of its
# own (unshare -n: nothing leaves the machine), for each flood:
#
#   valid    DATA with fresh IDs from one socket (127.0.0.x), as fast as it can
#   garbage  udpkit magic and an unknown type, random bytes, from one socket
#   forged   DATA forged with the victim's IP (127.0.0.1), random ports, raw socket
#   badtag   DATA sealed with a key the server does not have (server and victim keyed)
#
# it runs udpserver (default --rate-limit 10000/s), a victim (bench/floodbench
# victim: one client.Client on 127.0.0.1, one message every 1/RATE s) and,
# after WARMUP, the flooder (N datagrams); the victim stops TAIL after the
# flood. It prints the victim's acked/sent, retransmissions, p50/p99/max and
# the kernel's receive-queue drops of each server socket (/proc/net/udp),
# "before" (--sockets 1 --no-cookies: the server as it was) and "after"
# (--sockets SOCKETS: one queue per source by the CBPF program, cookies on),
# interleaved over ROUNDS. In "after" the valid/garbage/badtag flooder is a
# 127.0.0.x that the program puts on another socket than the victim's
# (floodbench pick); one flooder in SOCKETS would share the victim's socket,
# which is the "before" case for that victim.
#
# Usage: bench/floodbench.sh   (ROUNDS=3 N=200000 RATE=1000 SOCKETS=4
#        CASES="valid garbage forged badtag" OUT=/tmp/floodbench
#        AFTER_FLAGS="--cookie-rate 2000/s": more udpserver flags for "after")
# Needs root (unshare -n; raw socket for the forged flood).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
N=${N:-200000}
RATE=${RATE:-1000}
SOCKETS=${SOCKETS:-4}
CASES=${CASES:-valid garbage forged badtag}
WARMUP=${WARMUP:-0.5}
TAIL=${TAIL:-0.5}
OUT=${OUT:-/tmp/floodbench}
mkdir -p "$OUT"
if [ -z "${FLOODBENCH_NS:-}" ]; then
	go build -o "$OUT/udpserver" ./cmd/udpserver
	go build -o "$OUT/udpcli" ./cmd/udpcli
	go build -o "$OUT/floodbench" ./bench/floodbench
	export FLOODBENCH_NS=1 OUT ROUNDS N RATE SOCKETS CASES WARMUP TAIL AFTER_FLAGS
	exec unshare -n "$0" "$@"
fi
ip link set lo up
KEY=$OUT/bench.key
rm -f "$KEY"
"$OUT/udpcli" keygen --id 1 "$KEY" >/dev/null
PORT=9797
HEXPORT=$(printf '%04X' $PORT)

# drops prints the drops column of each server socket, by inode order.
drops() {
	awk -v p=":$HEXPORT" 'NR > 1 && $2 ~ p"$" { printf "%s%s", sep, $13; sep = "," } END { print "" }' /proc/net/udp
}

run() { # run CASE before|after
	local c=$1 cfg=$2 flags=(--listen 127.0.0.1:$PORT --no-announce -q) vflags=() from
	if [ "$cfg" = before ]; then
		flags+=(--sockets 1 --no-cookies)
		from=127.0.0.3
	else
		flags+=(--sockets "$SOCKETS")
		# shellcheck disable=SC2206
		flags+=(${AFTER_FLAGS:-})
		from=$("$OUT/floodbench" pick -sockets "$SOCKETS" -avoid 127.0.0.1)
	fi
	if [ "$c" = badtag ]; then
		flags+=(--key-file "$KEY")
		vflags+=(-key-file "$KEY")
	fi
	"$OUT/udpserver" "${flags[@]}" 2>"$OUT/server.err" &
	local srv=$!
	sleep 0.3
	"$OUT/floodbench" victim -to 127.0.0.1:$PORT -rate "$RATE" -for 60s "${vflags[@]}" >"$OUT/victim.out" &
	local vic=$!
	sleep "$WARMUP"
	local fl
	fl=$("$OUT/floodbench" flood -mode "$c" -n "$N" -to 127.0.0.1:$PORT -from "$from" -victim 127.0.0.1)
	sleep "$TAIL"
	kill -TERM $vic
	wait $vic || true
	local d
	d=$(drops)
	kill -TERM $srv
	wait $srv || true
	printf '%-8s %-6s | %s | %s | drops per socket %s\n' "$c" "$cfg" "$(cut -d' ' -f2- "$OUT/victim.out")" "${fl#flood $c: }" "$d"
}

echo "floodbench: $N datagrams per flood, victim at $RATE/s, after = --sockets $SOCKETS; $(nproc) CPUs; $(uname -r)"
for r in $(seq "$ROUNDS"); do
	echo "# round $r"
	for c in $CASES; do
		if [ $((r % 2)) = 1 ]; then
			run "$c" before
			run "$c" after
		else
			run "$c" after
			run "$c" before
		fi
	done
done
