#!/usr/bin/env bash
# acksyscalls: what each ack server pays per exchange in system calls and CPU
# (BENCHMARKS.md), measured with perf stat rather than inferred from acks/s,
# which on a shared machine swings with the neighbours. Each server in turn
# is loaded by the C closed-loop generator (bench/loadgen.c) while
# `perf stat -p` counts its task-clock, context switches and the
# recvmmsg/sendmmsg/epoll_pwait/futex/nanosleep calls it enters (futex and
# nanosleep: the Go runtime's hand-offs and sysmon); each count is printed
# per acknowledgement. Cells are PIN/INFLIGHT, PIN none (no pinning) or same
# (server and generator on core 0).
#
# Usage: bench/acksyscalls.sh [udpserver-binary...]   (needs cc, go, perf, taskset)
#   With no argument: the C server and a udpserver built from this tree.
#   Environment: ROUNDS=3 SECONDS_PER_RUN=2 CELLS="none/1 none/64 same/1 same/64"
#   OUT=/tmp/acksyscalls UDPSERVER_FLAGS (as bench/ackbench.sh)
# As root it runs inside a network namespace of its own (unshare -n).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECONDS_PER_RUN:-2}
CELLS=${CELLS:-none/1 none/64 same/1 same/64}
OUT=${OUT:-/tmp/acksyscalls}
mkdir -p "$OUT"
. bench/ackprep.sh
ack_prepare ACKSYSCALLS "$@"
set -- "${ACK_SERVERS[@]}"
port=29890
events=task-clock,context-switches,syscalls:sys_enter_recvmmsg,syscalls:sys_enter_sendmmsg,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex,syscalls:sys_enter_nanosleep
for r in $(seq 1 "$ROUNDS"); do
	for c in $CELLS; do
		pin=() f=${c#*/}
		[ "${c%/*}" = same ] && pin=(taskset -c 0)
		for b in C "$@"; do
			if [ "$b" = C ]; then
				"${pin[@]}" "$OUT/ackserver" 127.0.0.1 $port >/dev/null 2>&1 &
			else
				# shellcheck disable=SC2086 # the flags are split on purpose
				"${pin[@]}" "$b" --quiet --no-announce --rate-limit 0 --sockets 1 $UDPSERVER_FLAGS --listen 127.0.0.1:$port >/dev/null 2>&1 &
			fi
			srv=$!
			until ss -Hlun "sport = :$port" | grep -q .; do sleep 0.05; done
			"${pin[@]}" "$OUT/loadgen" 127.0.0.1 $port 64 0.3 >/dev/null # warm-up
			perf stat -x, -e "$events" -p $srv -o "$OUT/stat.txt" &
			ps=$!
			sleep 0.1
			res=$("${pin[@]}" "$OUT/loadgen" 127.0.0.1 $port "$f" "$SECS")
			kill -INT $ps
			wait $ps || true
			kill $srv
			wait $srv 2>/dev/null || true
			# loadgen: "N replies/s p50 X us p99 Y us ..."; perf -x,: value,unit,event,...
			echo "$res" | awk -v r="$r" -v c="$c" -v b="$(basename "$b")" -v secs="$SECS" -v st="$OUT/stat.txt" '
			{ acks = $1; p99 = $7 }
			END {
				n = acks * secs
				while ((getline line < st) > 0) {
					split(line, f, ","); if (f[1] !~ /^[0-9.]+$/) continue
					v[f[3]] = f[1]
				}
				printf "round %d  %-8s  %-10s  acks/s %7d  p99 %7.1f  cpu_us/ack %6.2f  ctxsw %.2f  recvmmsg %.2f  sendmmsg %.2f  epoll_pwait %.2f  futex %.3f  nanosleep %.3f\n",
					r, c, b, acks, p99, v["task-clock"] * 1000 / n, v["context-switches"] / n,
					v["syscalls:sys_enter_recvmmsg"] / n, v["syscalls:sys_enter_sendmmsg"] / n,
					v["syscalls:sys_enter_epoll_pwait"] / n, v["syscalls:sys_enter_futex"] / n, v["syscalls:sys_enter_nanosleep"] / n
			}'
		done
	done
done
