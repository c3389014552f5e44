// Command ackprof serves udpserver.Server exactly as "udpserver --quiet
// --no-announce --rate-limit 0" does (no handler, defaults otherwise) on one
// address and writes a CPU profile of the whole process, so that the server's
// hot path can be profiled under the C load generator (BENCHMARKS.md):
//
//	go build -o /tmp/ackprof ./bench/ackprof && cc -O2 -o /tmp/loadgen bench/loadgen.c
//	taskset -c 0 /tmp/ackprof -listen 127.0.0.1:29900 -seconds 8 -o /tmp/cpu.pprof &
//	sleep 1; taskset -c 0 /tmp/loadgen 127.0.0.1 29900 64 6
//	go tool pprof -top /tmp/ackprof /tmp/cpu.pprof
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/udpkit/udpkit/udpserver"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:29900", "address to serve")
	seconds := flag.Float64("seconds", 8, "how long to serve and profile")
	out := flag.String("o", "cpu.pprof", "CPU profile to write")
	batch := flag.Int("batch", 0, "Server.BatchSize (0: default)")
	window := flag.Duration("dedup-window", 0, "Server.DedupWindow (0: default)")
	flag.Parse()
	if err := run(*listen, *out, *batch, *window, time.Duration(*seconds*float64(time.Second))); err != nil {
		fmt.Fprintln(os.Stderr, "ackprof:", err)
		os.Exit(1)
	}
}

func run(listen, out string, batch int, window, d time.Duration) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	pc, err := udpserver.Listen(context.Background(), listen)
	if err != nil {
		return err
	}
	s := &udpserver.Server{BatchSize: batch, DedupWindow: window}
	done := make(chan error, 1)
	go func() { done <- s.Serve(pc) }()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	time.Sleep(d)
	pprof.StopCPUProfile()
	s.Close()
	<-done
	st := s.Stats()
	fmt.Fprintf(os.Stderr, "ackprof: %d received, %d acked, %d nacked\n", st.Received, st.Acked, st.Nacked)
	return nil
}
