package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

// Bench defaults.
const (
	DefaultBenchInFlight = 1
	DefaultBenchSize     = 120
	DefaultBenchDuration = 5 * time.Second
	DefaultBenchTimeout  = 500 * time.Millisecond
)

// BenchConfig configures Bench; zero fields take the defaults.
type BenchConfig struct {
	// Ping sends PINGs (no handler, no de-duplication) instead of DATA.
	Ping bool
	// InFlight is how many requests are outstanding at once. Default
	// DefaultBenchInFlight (1).
	InFlight int
	// Size is the size of each request in bytes, header included, at
	// least wire.HeaderLen. Default DefaultBenchSize (120).
	Size int
	// Duration is how long to load the server. Default
	// DefaultBenchDuration (5 s).
	Duration time.Duration
	// Status, when not nil, asks for the counts so far while the run goes
	// on: each value received from it calls OnStatus with them and the
	// time since the start (from Bench's goroutine, between datagrams;
	// as dd on SIGUSR1).
	Status   <-chan struct{}
	OnStatus func(BenchResult)
	// Timeout is how long a request may stay unanswered before it counts
	// as lost. Default DefaultBenchTimeout (500 ms).
	Timeout time.Duration
	// Keys seals every request and accepts only replies authenticated
	// with them (Config.Keys); Size then includes the 40-byte trailer and
	// is at least wire.MinAuthLen. Nil: no authentication, and replies
	// with the AUTH flag are ignored.
	Keys *auth.Keyring
}

// DefaultBenchConfig returns the configuration Bench uses for zero fields.
func DefaultBenchConfig() BenchConfig { return BenchConfig{}.withDefaults() }

func (c BenchConfig) withDefaults() BenchConfig {
	if c.InFlight <= 0 {
		c.InFlight = DefaultBenchInFlight
	}
	if c.Size <= 0 {
		c.Size = DefaultBenchSize
	}
	c.Size = max(c.Size, wire.HeaderLen)
	if c.Keys != nil {
		c.Size = max(c.Size, wire.MinAuthLen)
	}
	if c.Duration <= 0 {
		c.Duration = DefaultBenchDuration
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultBenchTimeout
	}
	return c
}

// BenchResult is what Bench measured.
type BenchResult struct {
	// Kind, InFlight and Size are the load.
	Kind     wire.Type
	InFlight int
	Size     int
	// Elapsed is the length of the run.
	Elapsed time.Duration
	// Sent counts requests, Replies ACKs and PONGs, Lost the requests
	// given up, Nacks the NACKs (RateLimited of them "rate limited").
	Sent, Replies, Lost, Nacks, RateLimited int
	// RTT percentiles, maximum and mean of the replies (zero without).
	RTTP50, RTTP90, RTTP99, RTTMax, RTTMean time.Duration
}

// Bench is a closed-loop load generator (udpcli bench): it keeps
// cfg.InFlight requests outstanding on conn, a socket connected to a
// udpkit server, for cfg.Duration, and answers every reply at once with a
// new request. Each request carries a fresh message ID, so the server
// handles every one; a request unanswered for cfg.Timeout counts as lost
// and is replaced. Send times live in a ring indexed by message ID, so
// matching a reply costs no allocation and no map. The error is the
// socket's; the result holds what was measured until then.
func Bench(ctx context.Context, conn *net.UDPConn, cfg BenchConfig) (BenchResult, error) {
	cfg = cfg.withDefaults()
	kind, inflight, size, d, timeout := wire.TypeData, cfg.InFlight, cfg.Size, cfg.Duration, cfg.Timeout
	if cfg.Ping {
		kind = wire.TypePing
	}
	res := BenchResult{Kind: kind, InFlight: inflight, Size: size}
	ringSize := 1
	for ringSize < 4*inflight {
		ringSize <<= 1
	}
	mask := uint64(ringSize - 1)
	sentAt := make([]time.Time, ringSize)
	pending := make([]bool, ringSize)
	rtts := make([]time.Duration, 0, 1<<16)
	a := newAuthState(cfg.Keys)
	body := size - wire.HeaderLen - a.overhead()
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
		msg := wire.AppendHeader(req[:0], wire.Header{Type: kind, ID: id})[:wire.HeaderLen+body]
		if a != nil {
			var err error
			if msg, err = a.signer.Sign(msg); err != nil { // in place: req has room for the trailer
				return err
			}
		}
		if _, err := conn.Write(msg); err != nil {
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
		case <-cfg.Status:
			if cfg.OnStatus != nil {
				r := res
				r.Elapsed = now.Sub(start)
				cfg.OnStatus(r)
			}
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
		h, _, err := a.open(buf[:n])
		if err != nil {
			continue // malformed, or not authenticated as it must be
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
				res.RateLimited++
			}
		} else {
			res.Replies++
			rtts = append(rtts, now.Sub(sentAt[slot]))
		}
		if err := send(now); err != nil {
			return res, fmt.Errorf("send: %w", err)
		}
	}
	res.Elapsed = time.Since(start)
	if len(rtts) > 0 {
		slices.Sort(rtts)
		pct := func(p float64) time.Duration { return rtts[min(len(rtts)-1, int(p*float64(len(rtts))))] }
		res.RTTP50, res.RTTP90, res.RTTP99, res.RTTMax = pct(0.50), pct(0.90), pct(0.99), rtts[len(rtts)-1]
		var sum time.Duration
		for _, r := range rtts {
			sum += r
		}
		res.RTTMean = sum / time.Duration(len(rtts))
	}
	return res, nil
}
