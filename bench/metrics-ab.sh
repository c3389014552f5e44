#!/bin/bash
# udpserver with and without --metrics (scraped every second), alternated; the server on core 0, the load on
# core PIN_LOAD (default 1; 0 puts both on one core, the setting this VM measures fairly).
B=${B:-/tmp}   # udpserver and udpcli built there: go build -o $B ./cmd/...
PIN_LOAD=${PIN_LOAD:-1} ROUNDS=${ROUNDS:-4} SECONDS_EACH=${SECONDS_EACH:-4}
F="--quiet --no-announce --rate-limit 0 --sockets 1 --dedup-window 0.2 --dedup-per-source 262144 --dedup-per-host 262144 --listen 127.0.0.1:29811"
for round in $(seq "$ROUNDS"); do
  for mode in plain metrics; do
    if [ $mode = metrics ]; then
      taskset -c 0 $B/udpserver $F --metrics 127.0.0.1:29812 2>/dev/null & SP=$!
      sleep 0.3
      ( for i in 1 2 3 4; do sleep 1; curl -s 127.0.0.1:29812/metrics >/dev/null; done ) & CP=$!
    else
      taskset -c 0 $B/udpserver $F 2>/dev/null & SP=$!
      sleep 0.3; CP=
    fi
    r=$(taskset -c "$PIN_LOAD" $B/udpcli bench -d "$SECONDS_EACH" --inflight 64 --json 127.0.0.1:29811)
    echo "$round $mode $(echo "$r" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(int(d["replies_per_second"]), d["rtt_p50_ms"], d["rtt_p99_ms"], d["nacks"])')"
    [ -n "$CP" ] && wait $CP
    kill -INT $SP; wait $SP
  done
done
