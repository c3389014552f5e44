// Command jsprof serves udpserver.Server with a JetStream forwarder, as
// "udpserver --forward URL --forward-create" does, on one address, and
// writes a CPU profile of the whole process and the heap allocations per
// forwarded message, so that the forwarding path can be profiled under the
// C load generator (BENCHMARKS.md). The NATS server must listen on loopback
// (run everything inside unshare -n, as bench/jsbench.sh does):
//
//	go build -o /tmp/jsprof ./bench/jsprof && cc -O2 -o /tmp/loadgen bench/loadgen.c
//	/tmp/jsprof -nats nats://127.0.0.1:14222 -listen 127.0.0.1:29900 -seconds 8 -o /tmp/js.pprof &
//	sleep 1; /tmp/loadgen 127.0.0.1 29900 256 6
//	go tool pprof -top /tmp/jsprof /tmp/js.pprof
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/udpkit/udpkit/forward/jetstream"
	"github.com/udpkit/udpkit/udpserver"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:29900", "address to serve")
	url := flag.String("nats", "nats://127.0.0.1:14222", "NATS server (loopback)")
	seconds := flag.Float64("seconds", 8, "how long to serve and profile")
	out := flag.String("o", "js.pprof", "CPU profile to write")
	memOut := flag.String("memprofile", "", "also write an allocation profile (every allocation sampled) to `FILE`")
	var cfg jetstream.Config
	flag.IntVar(&cfg.MaxPending, "pending", 0, "Config.MaxPending (0: default)")
	flag.StringVar(&cfg.Stream, "stream", "JSPROF", "stream to create (subjects udpkit.*) and store in")
	s := udpserver.Server{DedupWindow: 200 * time.Millisecond, DedupPerSource: 1 << 18, DedupPerHost: 1 << 18, RateLimit: 0}
	flag.Parse()
	if *memOut != "" {
		runtime.MemProfileRate = 1
	}
	if err := run(*listen, *url, *out, *memOut, cfg, &s, time.Duration(*seconds*float64(time.Second))); err != nil {
		fmt.Fprintln(os.Stderr, "jsprof:", err)
		os.Exit(1)
	}
}

func run(listen, url, out, memOut string, cfg jetstream.Config, s *udpserver.Server, d time.Duration) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := jetstream.EnsureStream(ctx, nc, njs.StreamConfig{Name: cfg.Stream, Subjects: []string{"udpkit.*"}}); err != nil {
		return err
	}
	fwd, err := jetstream.New(ctx, nc, cfg)
	if err != nil {
		return err
	}
	s.Handler = fwd
	s.MaxDeferred = cfg.MaxPending
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
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	st0 := fwd.Stats()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	time.Sleep(d)
	pprof.StopCPUProfile()
	runtime.ReadMemStats(&m1)
	st1 := fwd.Stats()
	if memOut != "" {
		if err := writeHeap(memOut); err != nil {
			return err
		}
	}
	if err := s.Shutdown(ctx); err != nil {
		s.Close()
	}
	<-done
	if err := fwd.Close(ctx); err != nil {
		return err
	}
	n := st1.Stored - st0.Stored
	fmt.Fprintf(os.Stderr, "jsprof: %d stored (%.0f/s), %d failed; %.1f allocations and %.0f bytes per stored message (whole process)\n",
		n, float64(n)/d.Seconds(), st1.Failed-st0.Failed,
		float64(m1.Mallocs-m0.Mallocs)/float64(max(n, 1)), float64(m1.TotalAlloc-m0.TotalAlloc)/float64(max(n, 1)))
	return nil
}

// writeHeap writes the allocation profile (go tool pprof -sample_index=alloc_objects).
func writeHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
