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
# flood. It prints the victim's acked/sent, retransmissions, p50/p99/max,
# the kernel's receive-queue drops of each server socket (/proc/net/udp, in
# inode order: the quarantine socket is the last one opened) and the
# sources the server jailed, for each configuration of CONFIGS, interleaved
# over ROUNDS:
#
#   single  --sockets 1 --no-cookies: the server before issue 14
#   other   --sockets SOCKETS, quarantine off, the flooder on another socket
#           than the victim's (3 hosts in 4 on a LAN)
#   shared  --sockets SOCKETS, quarantine off, the flooder on the victim's
#           socket (the worst case: 1 host in SOCKETS)
#   jail    --sockets SOCKETS, quarantine on (the default), the flooder on
#           the victim's socket
#   base    jail with the udpserver binary BASE_SERVER (another build, e.g.
#           main's, interleaved with this one's)
#
# FLOODERS=K (default 1) floods from K addresses at once (valid, garbage,
# badtag: one process, one socket per address, sent from in turn, N in
# all), all on the victim's socket (shared, jail) or all on other sockets
# (other); single uses 127.0.0.3 and up. PROCS=1 floods from K processes
# instead, one per address, N/K datagrams each, all at once (as K hosts
# would: each in bursts as the scheduler runs it); with TOGETHER=1 they all
# start sending at one moment (floodbench flood -at) instead of one after
# another as the script starts them.
#
# The flooder's socket is chosen with floodbench pick and a fixed
# --spread-multiplier (the server's default is a random one). The forged
# flood carries the victim's own address, so it lands on the victim's
# socket in every configuration.
#
# Usage: bench/floodbench.sh   (ROUNDS=3 N=200000 RATE=1000 SOCKETS=4 FLOODERS=1
#        CASES="valid garbage forged badtag" CONFIGS="shared jail"
#        OUT=/tmp/floodbench AFTER_FLAGS="...": more udpserver flags for
#        the --sockets configurations)
# Needs root (unshare -n; raw socket for the forged flood).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
N=${N:-200000}
RATE=${RATE:-1000}
SOCKETS=${SOCKETS:-4}
FLOODERS=${FLOODERS:-1}
PROCS=${PROCS:-0}
TOGETHER=${TOGETHER:-0}
BASE_SERVER=${BASE_SERVER:-}
CASES=${CASES:-valid garbage forged badtag}
CONFIGS=${CONFIGS:-shared jail}
MUL=2654435761 # 0x9e3779b1
WARMUP=${WARMUP:-0.5}
TAIL=${TAIL:-0.5}
OUT=${OUT:-/tmp/floodbench}
mkdir -p "$OUT"
if [ -z "${FLOODBENCH_NS:-}" ]; then
	go build -o "$OUT/udpserver" ./cmd/udpserver
	go build -o "$OUT/udpcli" ./cmd/udpcli
	go build -o "$OUT/floodbench" ./bench/floodbench
	export FLOODBENCH_NS=1 OUT ROUNDS N RATE SOCKETS FLOODERS PROCS TOGETHER BASE_SERVER CASES CONFIGS WARMUP TAIL AFTER_FLAGS
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

run() { # run CASE CONFIG
	local c=$1 cfg=$2 flags=(--listen 127.0.0.1:$PORT --no-announce -q) vflags=() from server=$OUT/udpserver
	case $cfg in
	single)
		flags+=(--sockets 1 --no-cookies)
		from=127.0.0.3
		for ((i = 1; i < FLOODERS; i++)); do from+=",127.0.0.$((3 + i))"; done
		;;
	other | shared | jail | base)
		if [ "$cfg" = base ]; then
			server=${BASE_SERVER:?base needs BASE_SERVER}
		fi
		flags+=(--sockets "$SOCKETS" --spread-multiplier $MUL --metrics 127.0.0.1:9798)
		# shellcheck disable=SC2206
		flags+=(${AFTER_FLAGS:-})
		if [ "$cfg" = other ] || [ "$cfg" = shared ]; then flags+=(--no-quarantine); fi
		if [ "$cfg" = other ]; then
			from=$("$OUT/floodbench" pick -sockets "$SOCKETS" -mul $MUL -victim 127.0.0.1 -other -count "$FLOODERS")
		else
			from=$("$OUT/floodbench" pick -sockets "$SOCKETS" -mul $MUL -victim 127.0.0.1 -same -count "$FLOODERS")
		fi
		;;
	*)
		echo "unknown config $cfg" >&2
		exit 2
		;;
	esac
	if [ "$c" = badtag ]; then
		flags+=(--key-file "$KEY")
		vflags+=(-key-file "$KEY")
	fi
	"$server" "${flags[@]}" 2>"$OUT/server.err" &
	local srv=$!
	sleep 0.3
	"$OUT/floodbench" victim -to 127.0.0.1:$PORT -rate "$RATE" -for 60s "${vflags[@]}" >"$OUT/victim.out" &
	local vic=$!
	sleep "$WARMUP"
	local fl
	if [ "$PROCS" = 1 ] && [ "$c" != forged ]; then
		local a pids=() at=()
		IFS=, read -ra addrs <<<"$from"
		if [ "$TOGETHER" = 1 ]; then # every process starts sending at the same moment, 300 ms from now
			at=(-at $(($(date +%s%N) + 300000000)))
		fi
		for a in "${addrs[@]}"; do
			"$OUT/floodbench" flood -mode "$c" -n $((N / ${#addrs[@]})) -to 127.0.0.1:$PORT -from "$a" -victim 127.0.0.1 "${at[@]}" >"$OUT/flood.$a" &
			pids+=($!)
		done
		wait "${pids[@]}"
		fl="${#addrs[@]} processes:"
		for a in "${addrs[@]}"; do fl+=" $(sed 's/.*datagrams in //' "$OUT/flood.$a")"; done
	else
		fl=$("$OUT/floodbench" flood -mode "$c" -n "$N" -to 127.0.0.1:$PORT -from "$from" -victim 127.0.0.1)
	fi
	sleep "$TAIL"
	kill -TERM $vic
	wait $vic || true
	local d q
	d=$(drops)
	# The jail's own count: its log lines are rate-limited (main's lose
	# the sources jailed past the budget).
	q=$(curl -s --max-time 2 http://127.0.0.1:9798/metrics | awk '$1 == "udpkit_quarantined_sources" { print $2 }' || true)
	kill -TERM $srv
	wait $srv || true
	local jailed
	jailed=$(grep 'source jailed' "$OUT/server.err" | grep -o 'source=[^ ]*' | cut -d= -f2 | tr ',\n' '  ' || true)
	printf '%-8s %-6s | %s | %s | drops per socket %s | jailed %s (%s in the jail)\n' "$c" "$cfg" "$(cut -d' ' -f2- "$OUT/victim.out")" "${fl#flood $c: }" "$d" "$jailed" "${q:-?}"
}

echo "floodbench: $N datagrams per flood from $FLOODERS address(es) (PROCS=$PROCS TOGETHER=$TOGETHER), victim at $RATE/s, --sockets $SOCKETS; configs $CONFIGS; $(nproc) CPUs; $(uname -r)"
read -ra cfgs <<<"$CONFIGS"
for r in $(seq "$ROUNDS"); do
	echo "# round $r"
	for c in $CASES; do
		order=("${cfgs[@]}")
		if [ $((r % 2)) = 0 ]; then # every other round in reverse
			order=()
			for ((i = ${#cfgs[@]} - 1; i >= 0; i--)); do order+=("${cfgs[i]}"); done
		fi
		for cfg in "${order[@]}"; do
			run "$c" "$cfg"
		done
	done
done
