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
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "measure a server's acknowledgement rate and latency under load",
		usage: `Usage: udpcli bench [flags] HOST:PORT

Loads the udpkit server at HOST:PORT with DATA messages (or PINGs with
--ping) in a closed loop: --inflight requests are outstanding at any time
on each of --conns sockets, and every reply is answered at once with a new
request, for --duration. Each socket reads the replies that have arrived
and sends their successors in one system call each (recvmmsg/sendmmsg on
Linux), so one generator core can load a server of several; several
sockets have several source ports, which a server with --sockets N
(SO_REUSEPORT) spreads across its sockets.
Each request carries a fresh message ID, so the server handles every one.
A request unanswered for --timeout counts as lost and is replaced.

Prints requests per second, round-trip percentiles and losses; --json
prints the same as one object. Compare runs on one machine only: the
figures depend on the CPU, the kernel and what else runs.

Run the server with --quiet (or it spends its time writing JSON lines),
ideally pinned to its own core:
  taskset -c 0 udpserver --quiet --listen 127.0.0.1:9797 &
  taskset -c 1 udpcli bench -d 5s --inflight 64 127.0.0.1:9797

Exit status: 0 when replies came, 1 when none came, 2 on usage errors.`,
		setup: setupBench,
	})
}

type benchResult struct {
	Target     string  `json:"target"`
	Kind       string  `json:"kind"`
	InFlight   int     `json:"inflight"`
	Conns      int     `json:"conns"`
	Size       int     `json:"request_bytes"`
	Seconds    float64 `json:"seconds"`
	Sent       int     `json:"sent"`
	Replies    int     `json:"replies"`
	Lost       int     `json:"lost"`
	Nacks      int     `json:"nacks"`
	Limited    int     `json:"rate_limited"`
	PerSecond  float64 `json:"replies_per_second"`
	P50        float64 `json:"rtt_p50_us"`
	P90        float64 `json:"rtt_p90_us"`
	P99        float64 `json:"rtt_p99_us"`
	Max        float64 `json:"rtt_max_us"`
	MeanMicros float64 `json:"rtt_mean_us"`
}

func setupBench(fs *pflag.FlagSet) func(context.Context, stdio, []string) error {
	duration := cliflag.Seconds(fs, "duration", "d", 5*time.Second, "how long to load the server")
	inflight := fs.Int("inflight", 1, "requests outstanding at once on each socket (1 to 4096)")
	nconns := fs.Int("conns", 1, "client sockets, each its own source port and closed loop (1 to 256)")
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
		if *nconns < 1 || *nconns > 256 {
			return usagef("--conns %d: want 1 to 256", *nconns)
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
		var conns []*net.UDPConn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range *nconns {
			conn, err := net.DialUDP("udp", nil, raddr)
			if err != nil {
				return fmt.Errorf("dial %s: %w", args[0], err)
			}
			conns = append(conns, conn)
		}
		kind := wire.TypeData
		if *ping {
			kind = wire.TypePing
		}
		r, err := runBench(ctx, conns, kind, *inflight, *size, *duration, *timeout)
		if err != nil {
			return failed(err)
		}
		r.Target = raddr.String()
		if *asJSON {
			if err := json.NewEncoder(io.out).Encode(r); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(io.out, "BENCH %s: %s, %d bytes, %d in flight on each of %d sockets, %.1f s\n", r.Target, r.Kind, r.Size, r.InFlight, r.Conns, r.Seconds)
			fmt.Fprintf(io.out, "%d sent, %d replies, %d lost, %d nacks\n", r.Sent, r.Replies, r.Lost, r.Nacks)
			fmt.Fprintf(io.out, "%.0f replies/s\n", r.PerSecond)
			fmt.Fprintf(io.out, "rtt p50/p90/p99/max = %.1f/%.1f/%.1f/%.1f µs, mean %.1f µs\n", r.P50, r.P90, r.P99, r.Max, r.MeanMicros)
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

// benchBatch is how many datagrams one system call reads or sends
// (recvmmsg/sendmmsg on Linux, one at a time elsewhere).
const benchBatch = 64

// runBench keeps inflight requests outstanding on each of conns for d, a
// goroutine per socket, and adds up their results.
func runBench(ctx context.Context, conns []*net.UDPConn, kind wire.Type, inflight, size int, d, timeout time.Duration) (benchResult, error) {
	res := benchResult{Kind: kind.String(), InFlight: inflight, Conns: len(conns), Size: size}
	type part struct {
		r    benchResult
		rtts []time.Duration
		err  error
	}
	parts := make(chan part, len(conns))
	start := time.Now()
	for _, c := range conns {
		go func() {
			var p part
			p.r, p.rtts, p.err = runConn(ctx, c, kind, inflight, size, start.Add(d), timeout)
			parts <- p
		}()
	}
	var rtts []time.Duration
	var err error
	for range conns {
		p := <-parts
		res.Sent += p.r.Sent
		res.Replies += p.r.Replies
		res.Lost += p.r.Lost
		res.Nacks += p.r.Nacks
		res.Limited += p.r.Limited
		rtts = append(rtts, p.rtts...)
		if err == nil {
			err = p.err
		}
	}
	res.Seconds = time.Since(start).Seconds()
	if err != nil {
		return res, err
	}
	res.PerSecond = float64(res.Replies) / res.Seconds
	if len(rtts) > 0 {
		slices.Sort(rtts)
		us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
		pct := func(p float64) float64 { return us(rtts[min(len(rtts)-1, int(p*float64(len(rtts))))]) }
		res.P50, res.P90, res.P99, res.Max = pct(0.50), pct(0.90), pct(0.99), us(rtts[len(rtts)-1])
		var sum time.Duration
		for _, r := range rtts {
			sum += r
		}
		res.MeanMicros = us(sum / time.Duration(len(rtts)))
	}
	return res, nil
}

// runConn is one socket's closed loop until end. It reads the replies that
// have arrived in one batch and sends their successors in one, so that one
// generator core drives a server of several. Send times live in a ring
// indexed by message ID: matching a reply costs no allocation and no map.
func runConn(ctx context.Context, conn *net.UDPConn, kind wire.Type, inflight, size int, end time.Time, timeout time.Duration) (benchResult, []time.Duration, error) {
	var res benchResult
	ringSize := 1
	for ringSize < 4*inflight {
		ringSize <<= 1
	}
	mask := uint64(ringSize - 1)
	sentAt := make([]time.Time, ringSize)
	pending := make([]bool, ringSize)
	rtts := make([]time.Duration, 0, 1<<16)
	next := rand.Uint64() &^ mask // start at a ring boundary
	outstanding := 0

	// x/net's batch calls take the same messages for either family.
	var pc interface {
		ReadBatch([]ipv4.Message, int) (int, error)
		WriteBatch([]ipv4.Message, int) (int, error)
	} = ipv4.NewPacketConn(conn)
	if a, ok := conn.RemoteAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		pc = ipv6.NewPacketConn(conn)
	}
	rmsgs, wmsgs := make([]ipv4.Message, benchBatch), make([]ipv4.Message, benchBatch)
	for i := range rmsgs {
		rmsgs[i].Buffers = [][]byte{make([]byte, 2048)}
		wmsgs[i].Buffers = [][]byte{make([]byte, size)}
	}
	queued := 0 // requests prepared in wmsgs
	queue := func(now time.Time) error {
		if queued == len(wmsgs) {
			if err := flush(pc, wmsgs[:queued]); err != nil {
				return err
			}
			queued = 0
		}
		id := next
		next++
		slot := id & mask
		if pending[slot] { // the ring wrapped over a request long lost
			pending[slot] = false
			outstanding--
			res.Lost++
		}
		wire.AppendHeader(wmsgs[queued].Buffers[0][:0], wire.Header{Type: kind, ID: id})
		queued++
		sentAt[slot], pending[slot] = now, true
		outstanding++
		res.Sent++
		return nil
	}
	refill := func(now time.Time) error {
		for range inflight {
			if err := queue(now); err != nil {
				return err
			}
		}
		err := flush(pc, wmsgs[:queued])
		queued = 0
		return err
	}

	if err := refill(time.Now()); err != nil {
		return res, nil, fmt.Errorf("send: %w", err)
	}
	lastReply := time.Now()
	for ctx.Err() == nil {
		now := time.Now()
		if now.After(end) {
			break
		}
		conn.SetReadDeadline(now.Add(timeout / 4))
		n, err := pc.ReadBatch(rmsgs, 0)
		now = time.Now()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if now.Sub(lastReply) >= timeout { // everything outstanding is lost: refill
					res.Lost += outstanding
					clear(pending)
					outstanding = 0
					if err := refill(now); err != nil {
						return res, nil, fmt.Errorf("send: %w", err)
					}
					lastReply = now
				}
				continue
			}
			return res, nil, fmt.Errorf("read: %w", err)
		}
		for _, m := range rmsgs[:n] {
			h, _, err := wire.Parse(m.Buffers[0][:m.N])
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
			if err := queue(now); err != nil {
				return res, nil, fmt.Errorf("send: %w", err)
			}
		}
		if err := flush(pc, wmsgs[:queued]); err != nil {
			return res, nil, fmt.Errorf("send: %w", err)
		}
		queued = 0
	}
	return res, rtts, nil
}

// flush sends msgs, as many per system call as the kernel takes.
func flush(pc interface {
	WriteBatch([]ipv4.Message, int) (int, error)
}, msgs []ipv4.Message) error {
	for len(msgs) > 0 {
		n, err := pc.WriteBatch(msgs, 0)
		if err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}
