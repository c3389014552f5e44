// Command ackprof serves udpserver.Server exactly as "udpserver --quiet
// --no-announce --rate-limit 0" does (no handler, defaults otherwise) on one
// address and writes a CPU profile of the whole process, so that the server's
// hot path can be profiled under the C load generator (BENCHMARKS.md):
//
//	go build -o /tmp/ackprof ./bench/ackprof && cc -O2 -o /tmp/loadgen bench/loadgen.c
//	taskset -c 0 /tmp/ackprof -listen 127.0.0.1:29900 -seconds 8 -o /tmp/cpu.pprof \
//	    -dedup-window 0.2s -dedup-per-source 262144 -dedup-per-host 262144 &
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
	var s udpserver.Server
	flag.IntVar(&s.BatchSize, "batch", 0, "Server.BatchSize (0: default)")
	flag.DurationVar(&s.DedupWindow, "dedup-window", 0, "Server.DedupWindow (0: default)")
	flag.IntVar(&s.DedupPerSource, "dedup-per-source", 0, "Server.DedupPerSource (0: default)")
	flag.IntVar(&s.DedupPerHost, "dedup-per-host", 0, "Server.DedupPerHost (0: default)")
	flag.Parse()
	if err := run(*listen, *out, &s, time.Duration(*seconds*float64(time.Second))); err != nil {
		fmt.Fprintln(os.Stderr, "ackprof:", err)
		os.Exit(1)
	}
}

func run(listen, out string, s *udpserver.Server, d time.Duration) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	pc, err := udpserver.Listen(context.Background(), listen)
	if err != nil {
		return err
	}
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
