package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/udpkit/udpkit/internal/cliflag"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"time"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/wire"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "measure a server's acknowledgement rate and latency under load",
		usage: `Usage: udpcli bench [flags] HOST:PORT

Loads the udpkit server at HOST:PORT with DATA messages (or PINGs with
--ping) in a closed loop: --inflight requests are outstanding at any time,
and every reply is answered at once with a new request, for --duration.
Each request carries a fresh message ID, so the server handles every one.
A request unanswered for --timeout counts as lost and is replaced.

Prints requests per second, round-trip percentiles and losses; --json
prints the same as one object. SIGUSR1 (as dd; also SIGQUIT, SIGINFO)
prints the counts so far on stderr and the run goes on. Compare runs on one machine only: the
figures depend on the CPU, the kernel and what else runs.

Run the server with --quiet (or it spends its time writing JSON lines),
ideally pinned to its own core:
  taskset -c 0 udpserver --quiet --listen 127.0.0.1:9797 &
  taskset -c 1 udpcli bench -d 5s --inflight 64 127.0.0.1:9797

Exit status: 0 when replies came, 1 when none came, 2 on usage errors.`,
		setup:  setupBench,
		status: true,
	})
}

type benchResult struct {
	Target    string  `json:"addr"`
	Kind      string  `json:"kind"`
	InFlight  int     `json:"inflight"`
	Size      int     `json:"size"`
	ElapsedMs float64 `json:"elapsed_ms"`
	Sent      int     `json:"sent"`
	Replies   int     `json:"replies"`
	Lost      int     `json:"lost"`
	Nacks     int     `json:"nacks"`
	Limited   int     `json:"rate_limited"`
	PerSecond float64 `json:"replies_per_second"`
	P50       float64 `json:"rtt_p50_ms"` // round trips in milliseconds, as every --json
	P90       float64 `json:"rtt_p90_ms"`
	P99       float64 `json:"rtt_p99_ms"`
	Max       float64 `json:"rtt_max_ms"`
	Mean      float64 `json:"rtt_mean_ms"`
}

func setupBench(fs *pflag.FlagSet) func(context.Context, stdio, []string) error {
	duration := cliflag.Seconds(fs, "duration", "d", 5*time.Second, "how long to load the server")
	inflight := fs.Int("inflight", 1, "requests outstanding at once (1 to 4096)")
	size := fs.IntP("size", "s", 120, "bytes per request, header included (16 to 1472)")
	ping := fs.Bool("ping", false, "send PINGs (no handler, no de-duplication) instead of DATA")
	timeout := cliflag.Seconds(fs, "timeout", "W", 500*time.Millisecond, "a request unanswered this long counts as lost")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	return func(ctx context.Context, io stdio, args []string) error {
		if len(args) != 1 {
			return usagef("want exactly one HOST:PORT, got %d arguments", len(args))
		}
		if *inflight < 1 || *inflight > 4096 {
			return usagef("--inflight %d: want 1 to 4096", *inflight)
		}
		if *size < wire.HeaderLen || *size > wire.DefaultMaxDatagram {
			return usagef("--size %d: want %d to %d bytes", *size, wire.HeaderLen, wire.DefaultMaxDatagram)
		}
		if *duration <= 0 || *timeout <= 0 {
			return usagef("--duration and --timeout must be positive")
		}
		raddr, err := net.ResolveUDPAddr("udp", args[0])
		if err != nil {
			return usagef("bad address %q: %v; want HOST:PORT, e.g. 127.0.0.1:9797", args[0], err)
		}
		conn, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			return fmt.Errorf("dial %s: %w", args[0], err)
		}
		defer conn.Close()
		kind := wire.TypeData
		if *ping {
			kind = wire.TypePing
		}
		r, err := runBench(ctx, conn, kind, *inflight, *size, *duration, *timeout, func(r benchResult, elapsed time.Duration) {
			// SIGUSR1 (as dd), SIGQUIT or SIGINFO: progress on stderr.
			fmt.Fprintf(io.err, "%d sent, %d replies, %d lost, %d nacks in %.1f s: %.0f replies/s so far\n",
				r.Sent, r.Replies, r.Lost, r.Nacks, elapsed.Seconds(), float64(r.Replies)/elapsed.Seconds())
		}, io.status)
		if err != nil {
			return failed(err)
		}
		r.Target = raddr.String()
		if *asJSON {
			if err := json.NewEncoder(io.out).Encode(r); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(io.out, "BENCH %s: %s, %d bytes, %d in flight, %.1f s\n", r.Target, r.Kind, r.Size, r.InFlight, r.ElapsedMs/1000)
			fmt.Fprintf(io.out, "%d sent, %d replies, %d lost, %d nacks\n", r.Sent, r.Replies, r.Lost, r.Nacks)
			fmt.Fprintf(io.out, "%.0f replies/s\n", r.PerSecond)
			fmt.Fprintf(io.out, "rtt p50/p90/p99/max = %.1f/%.1f/%.1f/%.1f µs, mean %.1f µs\n", r.P50*1000, r.P90*1000, r.P99*1000, r.Max*1000, r.Mean*1000)
		}
		if r.Limited > 0 {
			fmt.Fprintf(io.err, "udpcli bench: the server rate-limited this host (%d NACKs \"rate limited\", and the datagrams over the limit were dropped): "+
				"run the server with --rate-limit 0 to measure it\n", r.Limited)
		}
		if r.Replies == 0 {
			return failed(errors.New("no reply came"))
		}
		return nil
	}
}

// runBench keeps inflight requests outstanding on conn for d. Send times
// live in a ring indexed by message ID, so matching a reply costs no
// allocation and no map.
// On each signal from status it calls progress with the counts so far.
func runBench(ctx context.Context, conn *net.UDPConn, kind wire.Type, inflight, size int, d, timeout time.Duration,
	progress func(benchResult, time.Duration), status <-chan os.Signal) (benchResult, error) {
	res := benchResult{Kind: kind.String(), InFlight: inflight, Size: size}
	ringSize := 1
	for ringSize < 4*inflight {
		ringSize <<= 1
	}
	mask := uint64(ringSize - 1)
	sentAt := make([]time.Time, ringSize)
	pending := make([]bool, ringSize)
	rtts := make([]time.Duration, 0, 1<<16)
	req := make([]byte, size)
	buf := make([]byte, 2048)
	next := rand.Uint64() &^ mask // start at a ring boundary
	outstanding := 0

	send := func(now time.Time) error {
		id := next
		next++
		slot := id & mask
		if pending[slot] { // the ring wrapped over a request long lost
			pending[slot] = false
			outstanding--
			res.Lost++
		}
		wire.AppendHeader(req[:0], wire.Header{Type: kind, ID: id})
		if _, err := conn.Write(req); err != nil {
			return err
		}
		sentAt[slot], pending[slot] = now, true
		outstanding++
		res.Sent++
		return nil
	}

	start := time.Now()
	end := start.Add(d)
	for i := 0; i < inflight; i++ {
		if err := send(start); err != nil {
			return res, fmt.Errorf("send: %w", err)
		}
	}
	lastReply := start
	for {
		if ctx.Err() != nil {
			break
		}
		now := time.Now()
		if now.After(end) {
			break
		}
		select {
		case <-status:
			progress(res, now.Sub(start))
		default:
		}
		conn.SetReadDeadline(now.Add(timeout / 4))
		n, err := conn.Read(buf)
		now = time.Now()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if now.Sub(lastReply) >= timeout { // everything outstanding is lost: refill
					res.Lost += outstanding
					clear(pending)
					outstanding = 0
					for i := 0; i < inflight; i++ {
						if err := send(now); err != nil {
							return res, fmt.Errorf("send: %w", err)
						}
					}
					lastReply = now
				}
				continue
			}
			return res, fmt.Errorf("read: %w", err)
		}
		h, _, err := wire.Parse(buf[:n])
		if err != nil {
			continue
		}
		slot := h.ID & mask
		if !pending[slot] || (h.Type != wire.TypeAck && h.Type != wire.TypeNack && h.Type != wire.TypePong) {
			continue // duplicate, late or foreign
		}
		pending[slot] = false
		outstanding--
		lastReply = now
		if h.Type == wire.TypeNack {
			res.Nacks++
			if h.Code == wire.CodeRateLimited {
				res.Limited++
			}
		} else {
			res.Replies++
			rtts = append(rtts, now.Sub(sentAt[slot]))
		}
		if err := send(now); err != nil {
			return res, fmt.Errorf("send: %w", err)
		}
	}
	elapsed := time.Since(start)
	res.ElapsedMs = msNumber(elapsed)
	res.PerSecond = float64(res.Replies) / elapsed.Seconds()
	if len(rtts) > 0 {
		slices.Sort(rtts)
		pct := func(p float64) float64 { return msNumber(rtts[min(len(rtts)-1, int(p*float64(len(rtts))))]) }
		res.P50, res.P90, res.P99, res.Max = pct(0.50), pct(0.90), pct(0.99), msNumber(rtts[len(rtts)-1])
		var sum time.Duration
		for _, r := range rtts {
			sum += r
		}
		res.Mean = msNumber(sum / time.Duration(len(rtts)))
	}
	return res, nil
}
