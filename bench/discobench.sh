#!/usr/bin/env bash
# discobench: udpkit's discovery against hashicorp/mdns and Avahi on a
# namespace LAN (BENCHMARKS.md). Builds udpserver, udpcli, bench/mdnspeer (a
# module of its own, so hashicorp/mdns stays out of udpkit's go.mod) and
# bench/discobench into BIN, then runs discobench with the arguments given:
#
#   sudo bench/discobench.sh                       # 10 servers, 12 runs, 0 and 30 % loss, all three
#   sudo bench/discobench.sh -servers 30 -runs 6 -loss 0 -idle 60s
#   sudo bench/discobench.sh -cold                 # neighbour caches flushed before each browse
#   sudo OLD_REF=main bench/discobench.sh -systems udpkit,old,mdns   # before/after on one LAN
#
# With OLD_REF (a git revision), udpserver and udpcli of that revision are
# built into $BIN/old and run as the system "old", interleaved with the
# working tree's ("udpkit").
#
# Needs root, ip, nft, and for Avahi avahi-daemon, avahi-utils and dbus
# (Debian). Everything runs inside network namespaces it creates and
# removes; nothing is sent on the machine's own interfaces.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-/tmp/discobench}
mkdir -p "$BIN"
go build -o "$BIN/udpserver" ./cmd/udpserver
go build -o "$BIN/udpcli" ./cmd/udpcli
go build -o "$BIN/discobench" ./bench/discobench
(cd bench/mdnspeer && go build -o "$BIN/mdnspeer" .)
old=()
if [ -n "${OLD_REF:-}" ]; then
	src=$(mktemp -d)
	git archive "$OLD_REF" | tar -x -C "$src"
	mkdir -p "$BIN/old"
	(cd "$src" && go build -o "$BIN/old/udpserver" ./cmd/udpserver && go build -o "$BIN/old/udpcli" ./cmd/udpcli)
	rm -rf "$src"
	old=(-old-bin "$BIN/old")
fi
exec "$BIN/discobench" -bin "$BIN" "${old[@]}" "$@"
