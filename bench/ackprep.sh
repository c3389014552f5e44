# shellcheck shell=bash
# The set-up that bench/ackcpu.sh, acksyscalls.sh and ackrecord.sh share;
# sourced from the repository root. UDPSERVER_FLAGS defaults to a
# de-duplication table that stays in its steady state under load.
UDPSERVER_FLAGS=${UDPSERVER_FLAGS---dedup-window 0.2 --dedup-per-source 262144 --dedup-per-host 262144}

# ack_prepare TAG [UDPSERVER...] builds the C reference server and the load
# generator into $OUT, and udpserver when no binary is given; then, as root,
# runs the calling script ($0) again inside a network namespace of its own
# (TAG_NS marks that run). ACK_SERVERS holds the udpserver binaries to
# measure: callers `set -- "${ACK_SERVERS[@]}"`.
ack_prepare() {
	local tag=$1 ns=${1}_NS
	shift
	ACK_SERVERS=("$@")
	[ -z "${!ns:-}" ] || return 0
	command -v perf >/dev/null || { echo "${tag,,}: needs perf" >&2; exit 1; }
	cc -O2 -o "$OUT/ackserver" bench/ackserver.c
	cc -O2 -o "$OUT/loadgen" bench/loadgen.c
	if [ ${#ACK_SERVERS[@]} -eq 0 ]; then
		go build -o "$OUT/udpserver" ./cmd/udpserver
		ACK_SERVERS=("$OUT/udpserver")
	fi
	if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
		export "$ns=1" OUT
		exec unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' "$0" "${ACK_SERVERS[@]}"
	fi
}
