#!/usr/bin/env bash
# jsbench: udpserver --forward next to `nats bench js pub async --dedup`,
# against one JetStream server, interleaved, several rounds (BENCHMARKS.md).
#
# Starts nats-server -js bound to 127.0.0.1 (no cluster, no monitoring port)
# inside a network namespace of its own (unshare -n, loopback up: nothing can
# leave the machine), and one udpserver --forward into it. Then, for every
# window W and every round, in alternating order:
#   nats-bench  nats bench js pub async --dedup --batch W, 104-byte messages
#               (a Nats-Msg-Id each, as the forwarder sets): JetStream's own
#               rate with at most W publishes in flight;
#   nats-bench+h  the same with the forwarder's other seven headers, names and
#               value sizes (HEADERS=1, default on; Nats-Expected-Stream
#               included): the same headers and bytes per message;
#   forward     the C closed-loop generator keeping W DATA messages (120-byte
#               datagrams, 104-byte payload, fresh IDs) in flight against
#               udpserver --forward: each ACK means stored. GEN=batch (the
#               default) is bench/jsloadgen.c, one recvmmsg and one sendmmsg
#               per batch of replies; GEN=plain is bench/loadgen.c, one recv
#               and one send per message (its CPU competes with the broker's).
# Prints every run, then a table of medians over the rounds (messages per
# second), the median of the per-round ratios forward / nats-bench(+h), and
# CPU per message (user+system from /proc, so only as fine as the clock
# tick) of the broker and of the client side (udpserver + loadgen, or nats
# bench), and udpserver's context switches per forwarded message (its
# threads sleeping and being woken: the goroutine hand-offs across threads).
# A second table gives every forwarding build's median of per-round ratios
# against each reference, and the ratios round by round.
#
# Usage: sudo bench/jsbench.sh          (from anywhere; needs cc, go, nats, nats-server)
# Environment:
#   ROUNDS=3 WINDOWS="64 256" SECONDS_EACH=3 MSGS=200000 HEADERS=1 GEN=batch
#   PIN=none|split   split: nats-server on core 1, everything else on core 0
#   NATS_SERVER=/usr/sbin/nats-server NATS=$(go env GOPATH)/bin/nats
#   UDPSERVER=path   a prebuilt udpserver instead of building ./cmd/udpserver
#   FORWARD_FLAGS=   extra udpserver flags (e.g. --forward-pending 1024)
#   ALT_UDPSERVER=path  adds that binary (or wrapper script, e.g. one that
#                    sets GOMAXPROCS) as "forward-alt" (stream FWDALT)
#   OLD_UDPSERVER=path  adds that binary as "forward-old" (own port, stream
#                    FWDOLD), to compare two builds in the same run
#   OUT=/tmp/jsbench where binaries, the store and the log go
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
WINDOWS=${WINDOWS:-64 256}
SECS=${SECONDS_EACH:-3}
MSGS=${MSGS:-200000}
HEADERS=${HEADERS:-1}
GEN=${GEN:-batch}
PIN=${PIN:-none}
OUT=${OUT:-/tmp/jsbench}
NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
NATS=${NATS:-$(command -v nats || echo "$(go env GOPATH)/bin/nats")}
FORWARD_FLAGS=${FORWARD_FLAGS:-}
mkdir -p "$OUT"
LOG=$OUT/runs.txt

if [ -z "${JSBENCH_NS:-}" ]; then
	[ -x "$NATS_SERVER" ] || { echo "jsbench: no nats-server ($NATS_SERVER)" >&2; exit 1; }
	[ -x "$NATS" ] || { echo "jsbench: no nats CLI ($NATS): go install github.com/nats-io/natscli/nats@v0.5.0" >&2; exit 1; }
	echo "building into $OUT" >&2
	case $GEN in
	batch) cc -O2 -o "$OUT/loadgen" bench/jsloadgen.c ;;
	plain) cc -O2 -o "$OUT/loadgen" bench/loadgen.c ;;
	*) echo "jsbench: GEN=batch or GEN=plain, not $GEN" >&2; exit 1 ;;
	esac
	if [ -z "${UDPSERVER:-}" ]; then
		go build -o "$OUT/udpserver" ./cmd/udpserver
		UDPSERVER=$OUT/udpserver
	fi
	[ "$(id -u)" = 0 ] && command -v unshare >/dev/null ||
		{ echo "jsbench: needs root and unshare: the broker runs in a network namespace of its own" >&2; exit 1; }
	export JSBENCH_NS=1 OUT UDPSERVER NATS_SERVER NATS OLD_UDPSERVER ALT_UDPSERVER GEN
	exec unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi

PORT=14222
UDP=29850
URL=nats://127.0.0.1:$PORT
srvpin=() clipin=()
if [ "$PIN" = split ]; then srvpin=(taskset -c 1) clipin=(taskset -c 0); fi

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

rm -rf "$OUT/store"
"${srvpin[@]}" "$NATS_SERVER" -js -a 127.0.0.1 -p $PORT -sd "$OUT/store" >"$OUT/nats-server.log" 2>&1 &
nspid=$!
pids+=($nspid)
for _ in $(seq 100); do "$NATS" -s $URL rtt >/dev/null 2>&1 && break; sleep 0.1; done

# start_fw BINARY PORT STREAM: one udpserver --forward; prints its PID.
start_fw() {
	# shellcheck disable=SC2086 # FORWARD_FLAGS is split on purpose
	"${clipin[@]}" "$1" --quiet --no-announce --rate-limit 0 --sockets 1 \
		--dedup-window 0.2 --dedup-per-source 262144 --dedup-per-host 262144 \
		--listen 127.0.0.1:"$2" --instance bench \
		--forward $URL --forward-create --forward-stream "$3" --forward-subject "udpkit.$3" $FORWARD_FLAGS >/dev/null 2>"$OUT/udpserver-$3.err" &
	echo $!
}
wait_fw() {
	for _ in $(seq 100); do ss -Hlun "sport = :$1" | grep -q . && return; sleep 0.05; done
	echo "udpserver on port $1 did not start" >&2
	cat "$OUT"/udpserver-*.err >&2
	exit 1
}
udpid=$(start_fw "$UDPSERVER" $UDP FWD)
pids+=($udpid)
wait_fw $UDP
OLDUDP=$((UDP + 1))
if [ -n "${OLD_UDPSERVER:-}" ]; then
	oldid=$(start_fw "$OLD_UDPSERVER" $OLDUDP FWDOLD)
	pids+=($oldid)
	wait_fw $OLDUDP
fi
ALTUDP=$((UDP + 2))
if [ -n "${ALT_UDPSERVER:-}" ]; then
	altid=$(start_fw "$ALT_UDPSERVER" $ALTUDP FWDALT)
	pids+=($altid)
	wait_fw $ALTUDP
fi

HZ=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# switches PID: the context switches (voluntary and not) of all of PID's
# threads so far: each one is a thread that slept and was woken, which is
# what a hand-off between goroutines on different threads costs.
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { s += $2 } END { print s + 0 }'; }
# kids: sets KIDS to the CPU ticks of this shell's waited-for children (nats
# bench, loadgen); not in a $(...), whose subshell has children of its own.
kids() {
	local a
	read -r -a a <"/proc/$BASHPID/stat"
	KIDS=$((a[15] + a[16]))
}

# The forwarder's headers but Nats-Msg-Id (nats bench --dedup sets that),
# constant, with its names and value sizes; Nats-Expected-Stream as well, so
# that the broker checks the same.
hdrs=()
if [ "$HEADERS" = 1 ]; then
	hdrs=(-H "Udpkit-Source:127.0.0.1:54321" -H "Udpkit-Destination:127.0.0.1:29850"
		-H "Udpkit-Received:2026-12-01T12:00:00.123456789Z" -H "Udpkit-Kind:data"
		-H "Udpkit-Message-Id:0123456789abcdef" -H "Udpkit-Instance:bench" -H "Nats-Expected-Stream:NB")
fi

# run_nb NAME W: one nats bench run; prints "msgs/s broker_us client_us".
run_nb() {
	local name=$1 w=$2 extra=() t0 t1 k0 k1 rate
	[ "$name" = nats-bench+h ] && extra=("${hdrs[@]}")
	t0=$(ticks $nspid)
	kids
	k0=$KIDS
	"${clipin[@]}" "$NATS" -s $URL bench js pub async --no-progress --msgs "$MSGS" --size 104 --dedup \
		--batch "$w" --stream NB --create --purge "${extra[@]}" nbench.sub >"$OUT/nb.out" 2>&1
	t1=$(ticks $nspid)
	kids
	k1=$KIDS
	rate=$(grep -m1 -o '[0-9,]* msgs/sec' "$OUT/nb.out" | tr -d , | awk '{print $1}')
	[ -n "$rate" ] || { echo "nats bench failed:" >&2; cat "$OUT/nb.out" >&2; exit 1; }
	awk -v r="$rate" -v m="$MSGS" -v b=$((t1 - t0)) -v c=$((k1 - k0)) -v hz="$HZ" \
		'BEGIN { printf "%d %.1f %.1f 0 - -\n", r, b / hz * 1e6 / m, c / hz * 1e6 / m }'
}

# run_fw W PID PORT STREAM: one forwarded run; prints "acks/s broker_us
# client_us nacks udpserver_us udpserver_switches_per_msg".
run_fw() {
	local w=$1 pid=$2 port=$3 t0 t1 u0 u1 k0 k1 s0 s1 res
	"$NATS" -s $URL stream purge "$4" -f >/dev/null
	t0=$(ticks $nspid) u0=$(ticks "$pid") s0=$(switches "$pid")
	kids
	k0=$KIDS
	"${clipin[@]}" "$OUT/loadgen" 127.0.0.1 "$port" "$w" "$SECS" >"$OUT/lg.out"
	t1=$(ticks $nspid) u1=$(ticks "$pid") s1=$(switches "$pid")
	kids
	k1=$KIDS
	res=$(awk '{print $1, $10, $12}' "$OUT/lg.out")
	# shellcheck disable=SC2086 # three words on purpose
	set -- $res
	awk -v r="$1" -v s="$SECS" -v b=$((t1 - t0)) -v c=$((u1 - u0 + k1 - k0)) -v u=$((u1 - u0)) -v hz="$HZ" -v n="$3" -v sw=$((s1 - s0)) \
		'BEGIN { m = r * s; if (m < 1) m = 1; printf "%d %.1f %.1f %d %.1f %.2f\n", r, b / hz * 1e6 / m, c / hz * 1e6 / m, n, u / hz * 1e6 / m, sw / m }'
}

names=(nats-bench forward)
[ "$HEADERS" = 1 ] && names=(nats-bench nats-bench+h forward)
[ -n "${OLD_UDPSERVER:-}" ] && names+=(forward-old)
[ -n "${ALT_UDPSERVER:-}" ] && names+=(forward-alt)
n=${#names[@]}
"$OUT/loadgen" 127.0.0.1 $UDP 64 1 >/dev/null # warm-up: connection, stream, page cache
[ -z "${OLD_UDPSERVER:-}" ] || "$OUT/loadgen" 127.0.0.1 $OLDUDP 64 1 >/dev/null
[ -z "${ALT_UDPSERVER:-}" ] || "$OUT/loadgen" 127.0.0.1 $ALTUDP 64 1 >/dev/null
: >"$LOG"
for r in $(seq 1 "$ROUNDS"); do
	for w in $WINDOWS; do
		for k in $(seq 0 $((n - 1))); do
			i=$(((k + r - 1) % n)) # rotate the order each round
			name=${names[$i]}
			case $name in
			forward) res=$(run_fw "$w" "$udpid" $UDP FWD) ;;
			forward-old) res=$(run_fw "$w" "$oldid" $OLDUDP FWDOLD) ;;
			forward-alt) res=$(run_fw "$w" "$altid" $ALTUDP FWDALT) ;;
			*) res=$(run_nb "$name" "$w") ;;
			esac
			# shellcheck disable=SC2086
			set -- $res
			printf 'round %d  window %-4s  %-13s  msgs/s %s  broker_us/msg %s  client_us/msg %s  nacks %s  udpserver_us/msg %s  udpserver_switches/msg %s\n' \
				"$r" "$w" "$name" "$1" "$2" "$3" "$4" "$5" "$6" | tee -a "$LOG" >&2
		done
	done
done

# The streams both sides store in: the same storage, replicas, duplicate
# window, retention (nats bench's has discard new and max bytes 1 GB, ours
# discard old and no limit: neither limit is reached, the streams are purged
# before each run).
for st in NB FWD; do
	printf '%s:' "$st"
	"$NATS" -s $URL stream info -j "$st" | grep -E '^ *"(retention|max_bytes|discard|duplicate_window|storage|num_replicas)"' | tr -d ' \n'
	echo
done | tee -a "$OUT/streams.txt" >&2

echo
echo "nats-server $("$NATS_SERVER" --version 2>&1 | awk '{print $2}'), natscli $("$NATS" --version 2>&1), pin $PIN, generator $GEN, $ROUNDS rounds, nats bench $MSGS msgs, forward $SECS s, load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v names="${names[*]}" -v windows="$WINDOWS" '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{ r = $2; w = $4; m = $5; rate[w, m, r] = $7; bro[w, m, r] = $9; cli[w, m, r] = $11; srv[w, m, r] = $15; sw[w, m, r] = $17; rounds[r] = 1 }
END {
	ns = split(names, N, " "); nw = split(windows, W, " ")
	printf "\n| window | what | msgs/s (median, min–max) | broker µs/msg | client µs/msg | of which udpserver | udpserver switches/msg | forward / this |\n|---|---|---|---|---|---|---|---|\n"
	for (a = 1; a <= nw; a++) for (i = 1; i <= ns; i++) {
		k = 0; delete x; delete y; delete z; delete q; delete u; delete v; lo = 1e12; hi = 0
		for (r in rounds) {
			k++; x[k] = rate[W[a], N[i], r]; y[k] = bro[W[a], N[i], r]; z[k] = cli[W[a], N[i], r]; u[k] = srv[W[a], N[i], r]; v[k] = sw[W[a], N[i], r]
			q[k] = rate[W[a], "forward", r] / (rate[W[a], N[i], r] > 0 ? rate[W[a], N[i], r] : 1)
			if (x[k] < lo) lo = x[k]; if (x[k] > hi) hi = x[k]
		}
		fw = N[i] ~ /^forward/
		printf "| %s | %s | %.1fk (%.1f–%.1fk) | %.1f | %.1f | %s | %s | %s |\n", W[a], N[i], median(x, k) / 1000, lo / 1000, hi / 1000,
			median(y, k), median(z, k), fw ? sprintf("%.1f", median(u, k)) : "—", fw ? sprintf("%.2f", median(v, k)) : "—", fw ? "" : sprintf("%.2f×", median(q, k))
	}
	# Every forwarding build against every reference: the median of the
	# per-round ratios, and the ratios themselves in round order.
	printf "\n| window | forward build | reference | median of per-round ratios | per round |\n|---|---|---|---|---|\n"
	nr = 0; for (r in rounds) nr++
	for (a = 1; a <= nw; a++) for (i = 1; i <= ns; i++) for (j = 1; j <= ns; j++) {
		if (N[i] !~ /^forward/ || N[j] ~ /^forward/) continue
		k = 0; delete q; list = ""
		for (r = 1; r <= nr; r++) {
			k++; q[k] = rate[W[a], N[i], r] / (rate[W[a], N[j], r] > 0 ? rate[W[a], N[j], r] : 1)
			list = list (k > 1 ? ", " : "") sprintf("%.2f", q[k])
		}
		printf "| %s | %s | %s | %.2f× | %s |\n", W[a], N[i], N[j], median(q, k), list
	}
}' "$LOG"
