package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
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
	// on: each value received from it calls OnStatus with them, summed
	// over the sockets as each last published them (once per batch), and
	// the time since the start (from the goroutine that called Bench or
	// BenchAll; as dd on SIGUSR1).
	Status   <-chan struct{}
	OnStatus func(BenchResult)
	// Timeout is how long a request may stay unanswered before it counts
	// as lost. Default DefaultBenchTimeout (500 ms).
	Timeout time.Duration
	// Keys turns authentication on (PROTOCOL.md section 5), as
	// Config.Keys does for a client: each socket signs its requests with
	// a sender ID of its own and a new counter for every datagram (a
	// replacement for a lost request is a new message, sealed anew), and
	// takes only replies that verify; the others are ignored and counted
	// (BenchResult.Unauthenticated, BenchResult.BadAuth). The trailer
	// (wire.AuthTrailerLen bytes) comes on top of Size.
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
	// Conns is how many sockets carried the load (BenchAll).
	Conns int
	// Sent counts requests, Replies ACKs and PONGs, Lost the requests
	// given up, Nacks the NACKs (RateLimited of them "rate limited").
	Sent, Replies, Lost, Nacks, RateLimited int
	// Unauthenticated counts replies ignored because they had no AUTH
	// flag while the bench has keys, or had one while it has none;
	// BadAuth those that failed verification (bad tag, unknown key,
	// replay, clock).
	Unauthenticated, BadAuth int
	// RTT percentiles, maximum and mean of the replies (zero without).
	RTTP50, RTTP90, RTTP99, RTTMax, RTTMean time.Duration
}

// Bench is a closed-loop load generator (udpcli bench): it keeps
// cfg.InFlight requests outstanding on conn, a socket connected to a
// udpkit server, for cfg.Duration, and answers every reply at once with a
// new request. Each request carries a fresh message ID, so the server
// handles every one; a request unanswered for cfg.Timeout counts as lost
// and is replaced. It is BenchAll with one socket. The error is the
// socket's; the result holds what was measured until then.
func Bench(ctx context.Context, conn *net.UDPConn, cfg BenchConfig) (BenchResult, error) {
	return BenchAll(ctx, []*net.UDPConn{conn}, cfg)
}

// benchBatch is how many datagrams one system call reads or sends
// (recvmmsg/sendmmsg on Linux, one at a time elsewhere).
const benchBatch = 64

// BenchAll is Bench on several connected sockets at once, a closed loop
// of cfg.InFlight requests on each, in a goroutine each, with the results
// added up (InFlight stays per socket). Several sockets have several
// source ports, which a server with several SO_REUSEPORT sockets spreads
// across them. Each loop reads the replies that have arrived with one
// system call and sends their successors with one (recvmmsg/sendmmsg on
// Linux), so that one generator core can load a server of several.
func BenchAll(ctx context.Context, conns []*net.UDPConn, cfg BenchConfig) (BenchResult, error) {
	cfg = cfg.withDefaults()
	kind := wire.TypeData
	if cfg.Ping {
		kind = wire.TypePing
	}
	res := BenchResult{Kind: kind, InFlight: cfg.InFlight, Size: cfg.Size, Conns: len(conns)}
	type part struct {
		r    BenchResult
		rtts []time.Duration
		err  error
	}
	parts := make(chan part, len(conns))
	var lives []benchLive // each loop's counts so far, for Status only
	if cfg.Status != nil {
		lives = make([]benchLive, len(conns))
	}
	start := time.Now()
	for i, c := range conns {
		var live *benchLive
		if lives != nil {
			live = &lives[i]
		}
		go func() {
			var p part
			p.r, p.rtts, p.err = benchConn(ctx, c, kind, cfg, start.Add(cfg.Duration), live)
			parts <- p
		}()
	}
	var rtts []time.Duration
	var err error
	for done := 0; done < len(conns); {
		select {
		case p := <-parts:
			done++
			res.add(p.r)
			rtts = append(rtts, p.rtts...)
			if err == nil {
				err = p.err
			}
		case <-cfg.Status: // a nil channel (no Status) never fires
			if cfg.OnStatus != nil {
				r := BenchResult{Kind: res.Kind, InFlight: res.InFlight, Size: res.Size, Conns: res.Conns}
				for i := range lives {
					r.add(lives[i].load())
				}
				r.Elapsed = time.Since(start)
				cfg.OnStatus(r)
			}
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
	return res, err
}

// add adds o's counts to r's.
func (r *BenchResult) add(o BenchResult) {
	r.Sent += o.Sent
	r.Replies += o.Replies
	r.Lost += o.Lost
	r.Nacks += o.Nacks
	r.RateLimited += o.RateLimited
	r.Unauthenticated += o.Unauthenticated
	r.BadAuth += o.BadAuth
}

// benchLive is one loop's counts so far, which the loop publishes once per
// batch (and as it ends) when Status asks for them: a lock taken per batch
// and never contended but by a status request.
type benchLive struct {
	mu sync.Mutex
	r  BenchResult
}

func (l *benchLive) store(r *BenchResult) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.r = *r
	l.mu.Unlock()
}

func (l *benchLive) load() BenchResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r
}

// batchConn is what x/net's ipv4 and ipv6 PacketConns both offer.
type batchConn interface {
	ReadBatch([]ipv4.Message, int) (int, error)
	WriteBatch([]ipv4.Message, int) (int, error)
}

// benchConn is one socket's closed loop until end. Send times live in a
// ring indexed by message ID, so matching a reply costs no allocation and
// no map.
func benchConn(ctx context.Context, conn *net.UDPConn, kind wire.Type, cfg BenchConfig, end time.Time, live *benchLive) (BenchResult, []time.Duration, error) {
	var res BenchResult
	defer func() { live.store(&res) }() // the final counts, whatever ends the loop
	inflight, timeout := cfg.InFlight, cfg.Timeout
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

	var pc batchConn = ipv4.NewPacketConn(conn)
	if a, ok := conn.RemoteAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		pc = ipv6.NewPacketConn(conn)
	}
	// One auth state per socket: its own sender ID and counter, and its
	// own replay window for the server's replies (nil without keys).
	sec := newAuthState(cfg.Keys)
	rmsgs, wmsgs := make([]ipv4.Message, benchBatch), make([]ipv4.Message, benchBatch)
	bufs := make([][]byte, benchBatch) // the unsealed requests, with room for the trailer
	for i := range rmsgs {
		rmsgs[i].Buffers = [][]byte{make([]byte, 2048)}
		bufs[i] = make([]byte, cfg.Size, cfg.Size+sec.overhead())
		wmsgs[i].Buffers = [][]byte{bufs[i]}
	}
	queued := 0 // requests prepared in wmsgs
	flush := func() error {
		for msgs := wmsgs[:queued]; len(msgs) > 0; {
			n, err := pc.WriteBatch(msgs, 0)
			if err != nil {
				return err
			}
			msgs = msgs[n:]
		}
		queued = 0
		return nil
	}
	queue := func(now time.Time) error {
		if queued == len(wmsgs) {
			if err := flush(); err != nil {
				return err
			}
		}
		id := next
		next++
		slot := id & mask
		if pending[slot] { // the ring wrapped over a request long lost
			pending[slot] = false
			outstanding--
			res.Lost++
		}
		b := bufs[queued]
		wire.AppendHeader(b[:0], wire.Header{Type: kind, ID: id}) // clears the AUTH flag and key ID of the last seal
		if sec != nil {
			// Sealed in place: the trailer fits in b's capacity, so
			// signing allocates nothing.
			sealed, err := sec.signer.Sign(b)
			if err != nil {
				return err
			}
			wmsgs[queued].Buffers[0] = sealed
		}
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
		return flush()
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
		live.store(&res)
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
						return res, rtts, fmt.Errorf("send: %w", err)
					}
					lastReply = now
				}
				continue
			}
			return res, rtts, fmt.Errorf("read: %w", err)
		}
		for _, m := range rmsgs[:n] {
			h, _, err := sec.open(m.Buffers[0][:m.N])
			if err != nil {
				switch classify(err) {
				case authMissing:
					res.Unauthenticated++
				case authBad:
					res.BadAuth++
				}
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
					res.RateLimited++
				}
			} else {
				res.Replies++
				rtts = append(rtts, now.Sub(sentAt[slot]))
			}
			if err := queue(now); err != nil {
				return res, rtts, fmt.Errorf("send: %w", err)
			}
		}
		if err := flush(); err != nil {
			return res, rtts, fmt.Errorf("send: %w", err)
		}
	}
	return res, rtts, nil
}

// PerSecond is the rate of replies over the run (0 for an empty run).
func (r BenchResult) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Replies) / r.Elapsed.Seconds()
}
