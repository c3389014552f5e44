package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/internal/netaddr"
	"github.com/udpkit/udpkit/internal/readloop"
	"github.com/udpkit/udpkit/wire"
)

// Protocol constants from PROTOCOL.md, section 8.
const (
	// DefaultInitialTimeout is the first retransmission timeout before any
	// round trip was measured: a LAN value (CoAP's 2-3 s is for radio links).
	DefaultInitialTimeout = 200 * time.Millisecond
	// DefaultMaxTimeout caps the doubling back-off.
	DefaultMaxTimeout = 4 * time.Second
	// DefaultRetries is the number of retransmissions after the first send.
	DefaultRetries = 5
	// DefaultWindow is the most datagrams SendAll keeps in flight.
	DefaultWindow = 8
	// DefaultMinTimeout is the floor of the adaptive timeout.
	DefaultMinTimeout = 50 * time.Millisecond
	// ExchangeLifetime is the longest a message is retransmitted after its
	// first transmission; a server de-duplicates IDs for this long.
	ExchangeLifetime = 120 * time.Second

	// MaxWindow is the largest Config.Window: SendAll scans its window on
	// each event.
	MaxWindow = 1024

	maxPings = 1 << 16 // PING records kept for late and duplicate PONGs
)

// Config tunes a Client. The zero value works; each field documents its
// default. Dial copies the configuration: later changes have no effect, and
// Dial never writes to it.
type Config struct {
	// InitialTimeout is the first retransmission timeout, used until a
	// round trip has been measured. It is multiplied by a random factor in
	// [1, 1.5) per message, so that clients do not retransmit in step.
	// Default DefaultInitialTimeout (200 ms).
	InitialTimeout time.Duration

	// MinTimeout is the floor of the adaptive timeout computed from
	// measured round trips (RFC 6298 with a LAN floor instead of 1 s: the
	// time includes the server's handler, and a spurious retransmission
	// only costs a datagram, because the server de-duplicates). Default
	// the smaller of DefaultMinTimeout (50 ms) and InitialTimeout.
	MinTimeout time.Duration

	// MaxTimeout caps the doubling back-off and the adaptive timeout.
	// Default the larger of DefaultMaxTimeout (4 s) and InitialTimeout,
	// so that a long InitialTimeout is not cut short; at most
	// ExchangeLifetime.
	MaxTimeout time.Duration

	// Retries is the number of retransmissions after the first
	// transmission. Default DefaultRetries (5, six transmissions in all);
	// negative means none. Whatever the count, a message is never
	// retransmitted later than ExchangeLifetime (120 s) after its first
	// transmission.
	Retries int

	// Window is the most datagrams SendAll keeps in flight. SendAll starts
	// with one until a round trip was measured and grows towards Window
	// (slow start, then one more per window acknowledged); it halves on a
	// retransmission timeout. Default DefaultWindow (8); at most MaxWindow
	// (1024).
	// Send and Ping are not limited by it.
	Window int

	// MaxDatagram is the largest datagram the client sends, header
	// included. Default wire.DefaultMaxDatagram (1472: one Ethernet frame
	// without fragmentation); at most wire.MaxDatagram.
	MaxDatagram int

	// Logger receives debug records (malformed and unmatched replies) and
	// warnings (socket read errors). Nil means silent.
	Logger *slog.Logger

	// Keys turns authentication on (PROTOCOL.md section 5): every DATA
	// and PING is sealed with the current key (each retransmission sealed
	// again, with a new counter and time), and only replies authenticated
	// with one of these keys, fresh and not replayed, are accepted; the
	// rest are ignored (Stats.Unauthenticated, Stats.BadAuth). The trailer
	// takes wire.AuthTrailerLen bytes of MaxDatagram. Nil (the default):
	// no authentication, and replies with the AUTH flag are ignored, since
	// they cannot be checked.
	Keys *auth.Keyring

	// Test hooks.
	jitter   func() float64 // in [0, 1); default math/rand/v2
	lifetime time.Duration  // default ExchangeLifetime
	lookup   lookupFunc     // host name -> addresses; default net.DefaultResolver
}

// config is a Config with every default resolved.
type config struct {
	initial, min, max time.Duration
	retries           int
	window            int
	maxDatagram       int
	log               *slog.Logger
	jitter            func() float64
	lifetime          time.Duration
	lookup            lookupFunc
}

// DefaultConfig returns the configuration a zero Config stands for, with
// every default spelled out (udpkit's convention, after memberlist's
// DefaultLANConfig): start from it to change one value. Dial(ctx, addr,
// DefaultConfig()) and Dial(ctx, addr, Config{}) behave the same.
// MinTimeout and MaxTimeout stay 0: their defaults follow InitialTimeout.
func DefaultConfig() Config {
	return Config{
		InitialTimeout: DefaultInitialTimeout,
		Retries:        DefaultRetries,
		Window:         DefaultWindow,
		MaxDatagram:    wire.DefaultMaxDatagram,
	}
}

// MaxPayload is the largest payload a message sent with cfg may carry:
// MaxDatagram less the header, and less the authentication trailer with
// Keys. A larger one fails with ErrTooLarge before anything is sent.
func (cfg Config) MaxPayload() int {
	n := cfg.resolve().maxDatagram - wire.HeaderLen
	if cfg.Keys != nil {
		n -= wire.AuthTrailerLen
	}
	return n
}

func (cfg Config) resolve() config {
	var c config
	c.initial = cfg.InitialTimeout
	if c.initial <= 0 {
		c.initial = DefaultInitialTimeout
	}
	c.lifetime = cfg.lifetime
	if c.lifetime <= 0 {
		c.lifetime = ExchangeLifetime
	}
	c.max = cfg.MaxTimeout
	if c.max <= 0 {
		c.max = max(DefaultMaxTimeout, c.initial)
	}
	c.max = min(c.max, c.lifetime)
	c.initial = min(c.initial, c.max)
	c.min = cfg.MinTimeout
	if c.min <= 0 {
		c.min = min(DefaultMinTimeout, c.initial)
	}
	c.min = min(c.min, c.max)
	switch {
	case cfg.Retries == 0:
		c.retries = DefaultRetries
	case cfg.Retries < 0:
		c.retries = 0
	default:
		c.retries = cfg.Retries
	}
	c.window = cfg.Window
	if c.window <= 0 {
		c.window = DefaultWindow
	}
	c.window = min(c.window, MaxWindow)
	c.maxDatagram = cfg.MaxDatagram
	if c.maxDatagram <= 0 {
		c.maxDatagram = wire.DefaultMaxDatagram
	}
	c.maxDatagram = max(min(c.maxDatagram, wire.MaxDatagram), wire.HeaderLen)
	c.log = cfg.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.jitter = cfg.jitter
	if c.jitter == nil {
		c.jitter = rand.Float64
	}
	c.lookup = cfg.lookup
	if c.lookup == nil {
		c.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	return c
}

// packetConn is the part of a connected UDP socket the client uses; tests
// substitute an in-memory fake.
type packetConn interface {
	Read(b []byte) (int, error)
	Write(b []byte) (int, error)
	Close() error
}

// Stats counts what a Client sent and received.
type Stats struct {
	Sent          uint64 // datagrams transmitted, retransmissions included
	Retransmitted uint64 // retransmissions of DATA
	Received      uint64 // datagrams read from the socket
	Malformed     uint64 // received datagrams that failed wire.Parse, dropped
	Unmatched     uint64 // ACK, NACK or PONG for no waiting message (duplicate or late), ignored
	Unexpected    uint64 // well-formed datagrams of a type a client never gets, ignored
	Refused       uint64 // ICMP port unreachable errors reported by the socket
	Unreachable   uint64 // ICMP host or network unreachable errors reported by the socket
	// Unauthenticated counts replies ignored because the client has keys
	// and they carry no AUTH flag, or it has none and they do.
	Unauthenticated uint64
	// BadAuth counts authenticated replies that failed verification: a
	// tag that does not match, an unknown key ID, a replay, a stale time.
	BadAuth uint64
	// Cookies counts the cookies the server sent (NACK "rate limited"
	// with a cookie, PROTOCOL.md section 3.1); every DATA after one
	// echoes the newest.
	Cookies uint64
}

// Client sends messages to one udpkit server over a connected UDP socket and
// matches the replies to them by message ID. Its methods may be called
// concurrently. A Client owns a socket and a reading goroutine: Close it.
type Client struct {
	conn   packetConn
	remote netip.AddrPort
	cfg    config
	auth   *authState // nil without Config.Keys
	// busyFails makes NACK busy end a Send at once instead of being
	// retried: a ServiceClient moves to the next server instead.
	busyFails bool
	rtt       rtoEstimator
	nextID    atomic.Uint64

	mu        sync.Mutex
	closed    bool
	pending   map[uint64]func(reply) // DATA awaiting ACK/NACK; called once, outside mu
	pings     map[uint64]*pingRecord
	pingOrder []uint64 // IDs of pings, oldest first

	done       chan struct{} // closed by Close
	readerDone chan struct{}
	closeOnce  sync.Once

	sent, retransmitted, received, malformed, unmatched, unexpected, refusedCount atomic.Uint64
	unreachableCount                                                              atomic.Uint64
	unauthenticated, badAuth                                                      atomic.Uint64
	cookies                                                                       atomic.Uint64

	cookie atomic.Pointer[wire.Cookie] // the server's last cookie (cookie.go); nil: none
}

// reply is what the reader hands to a waiting message.
type reply struct {
	id     uint64
	typ    wire.Type // TypeAck or TypeNack; zero with err
	code   wire.Code
	reason string
	at     time.Time // when the reader got it
	err    error     // ErrRefused or net.ErrClosed instead of a reply
	cookie bool      // a NACK "rate limited" that carried a cookie: resend at once with it
}

// newClient starts the client's reader on c.
func newClient(c packetConn, remote netip.AddrPort, cfg Config) *Client {
	cl := &Client{
		conn:       c,
		remote:     remote,
		cfg:        cfg.resolve(),
		auth:       newAuthState(cfg.Keys),
		pending:    make(map[uint64]func(reply)),
		pings:      make(map[uint64]*pingRecord),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	cl.rtt.init(cl.cfg.initial, cl.cfg.min, cl.cfg.max)
	cl.nextID.Store(startID())
	go cl.readLoop()
	return cl
}

// RemoteAddr returns the server's address and port.
func (c *Client) RemoteAddr() netip.AddrPort { return c.remote }

// LocalAddr returns the address and port the client sends from: with the
// message ID, its identity towards the server (PROTOCOL.md section 3).
func (c *Client) LocalAddr() netip.AddrPort {
	if la, ok := c.conn.(interface{ LocalAddr() net.Addr }); ok {
		return netaddr.AddrPort(la.LocalAddr())
	}
	return netip.AddrPort{}
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{
		Sent:          c.sent.Load(),
		Retransmitted: c.retransmitted.Load(),
		Received:      c.received.Load(),
		Malformed:     c.malformed.Load(),
		Unmatched:     c.unmatched.Load(),
		Unexpected:    c.unexpected.Load(),
		Refused:       c.refusedCount.Load(),
		Unreachable:   c.unreachableCount.Load(),

		Unauthenticated: c.unauthenticated.Load(),
		BadAuth:         c.badAuth.Load(),
		Cookies:         c.cookies.Load(),
	}
}

// Close closes the socket and stops the reader. Calls waiting for a reply
// return an error that matches net.ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		waiters := c.pending
		c.pending = map[uint64]func(reply){}
		c.mu.Unlock()
		close(c.done)
		err = c.conn.Close()
		<-c.readerDone
		closedErr := fmt.Errorf("client: %w", net.ErrClosed)
		for id, fn := range waiters {
			fn(reply{id: id, at: time.Now(), err: closedErr})
		}
	})
	return err
}

// startIDSpan bounds the client's random first message ID. The protocol
// allows any 64-bit ID, but IDs end up as JSON numbers (udpserver's log,
// udpcli send --json), and JavaScript and jq before 1.7 read those as
// float64, exact only up to 2^53. A start below 2^52 keeps every ID exact
// for 2^52 further messages (over a century at a million a second), and 52
// random bits still make it unlikely that a restarted client reuses a
// recent ID.
const startIDSpan = 1 << 52

// startID returns a random first message ID in [1, 2^52].
func startID() uint64 { return rand.Uint64N(startIDSpan) + 1 }

// newID returns a message ID not used by this client before: a random
// start below 2^52 (see startIDSpan), then +1 per message. A Client owns
// one socket (one local address and port) for its whole life, so it never
// sends an ID twice from it; a later Client that gets the same port back
// within EXCHANGE_LIFETIME repeats an ID only if its random range overlaps
// the earlier one's (about 2n/2^52 for n messages each), PROTOCOL.md
// section 3. Send, SendAll and every window share the one counter.
func (c *Client) newID() uint64 { return c.nextID.Add(1) - 1 }

// register makes the reader call fn with the reply to message id (once).
func (c *Client) register(id uint64, fn func(reply)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("client: %w", net.ErrClosed)
	}
	c.pending[id] = fn
	return nil
}

func (c *Client) unregister(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// transmit writes one datagram. A write can report the ICMP error of an
// earlier datagram (the kernel keeps one pending socket error); that is
// handled as a refusal of the traffic sent so far, and the datagram was not
// sent: transmit returns an error matching ErrRefused. attempt counts the
// transmissions of b from 1 (cookie.go).
func (c *Client) transmit(b []byte, attempt int) error {
	b = c.withCookie(b, attempt) // cookie.go
	b, err := c.auth.seal(b)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	_, err = c.conn.Write(b)
	if err == nil {
		c.sent.Add(1)
		return nil
	}
	if isRefused(err) {
		c.refused()
		return c.refusedErr()
	}
	if errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("client: %w", net.ErrClosed)
	}
	return fmt.Errorf("client: send to %s: %w", c.remote, err)
}

func (c *Client) refusedErr() error {
	return fmt.Errorf("%w: nothing listening on %s (ICMP port unreachable)", ErrRefused, c.remote)
}

// readLoop reads replies until the socket is closed and hands each to the
// message waiting for its ID.
func (c *Client) readLoop() {
	defer close(c.readerDone)
	buf := make([]byte, wire.MaxDatagram+1)
	var fails readloop.Failures
	for {
		n, err := c.conn.Read(buf)
		at := time.Now()
		if err != nil {
			select {
			case <-c.done:
				return
			default:
			}
			if isRefused(err) {
				c.refused()
				continue
			}
			if isUnreachable(err) {
				c.unreachable(err)
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Never hot-loop on a failing socket, never flood the log.
			if !fails.Failed(c.done, c.cfg.log, "udpkit client: read error", err, "remote", c.remote) {
				return
			}
			continue
		}
		fails.Succeeded()
		c.received.Add(1)
		c.dispatch(buf[:n], at)
	}
}

// dispatch matches one received datagram to its waiter.
func (c *Client) dispatch(b []byte, at time.Time) {
	h, body, err := c.auth.open(b)
	if err != nil {
		switch classify(err) {
		case authMissing:
			c.unauthenticated.Add(1)
		case authBad:
			c.badAuth.Add(1)
		default:
			c.malformed.Add(1)
		}
		c.cfg.log.Debug("udpkit client: dropped datagram", "remote", c.remote, "size", len(b), "err", err)
		return
	}
	switch h.Type {
	case wire.TypeAck, wire.TypeNack:
		c.mu.Lock()
		fn := c.pending[h.ID]
		delete(c.pending, h.ID)
		c.mu.Unlock()
		if fn == nil {
			c.unmatched.Add(1)
			c.cfg.log.Debug("udpkit client: ignored reply for no waiting message", "remote", c.remote, "type", h.Type, "id", wire.IDString(h.ID))
			return
		}
		r := reply{id: h.ID, typ: h.Type, code: h.Code, at: at}
		if ck, ok := wire.CookieOf(h, b); ok && h.Type == wire.TypeNack {
			c.keepCookie(ck) // cookie.go
			r.cookie = true
		} else if h.Type == wire.TypeNack {
			r.reason = strings.ToValidUTF8(string(body), "\uFFFD")
		}
		fn(r)
	case wire.TypePong:
		c.pong(h.ID, len(b), at)
	default:
		c.unexpected.Add(1)
		c.cfg.log.Debug("udpkit client: ignored unexpected message", "remote", c.remote, "type", h.Type, "id", wire.IDString(h.ID))
	}
}

// refused handles an ICMP port unreachable reported by the socket. On a
// connected socket it can only have been caused by traffic this client sent
// to the server, so every DATA message waiting for a reply fails with
// ErrRefused, and so does the newest unanswered PING. When nothing is
// waiting, the error is counted and otherwise ignored.
func (c *Client) refused() {
	c.refusedCount.Add(1)
	c.mu.Lock()
	waiters := c.pending
	c.pending = map[uint64]func(reply){}
	var ping *pingRecord
	for i := len(c.pingOrder) - 1; i >= 0; i-- {
		r := c.pings[c.pingOrder[i]]
		if r != nil && r.sent && r.replies == 0 && !r.refused {
			r.refused = true
			ping = r
			break
		}
	}
	c.mu.Unlock()
	err := c.refusedErr()
	now := time.Now()
	for id, fn := range waiters {
		fn(reply{id: id, at: now, err: err})
	}
	if ping != nil {
		ping.fn(Pong{ID: ping.id, RTT: now.Sub(ping.sentAt), Err: err})
	}
	if len(waiters) == 0 && ping == nil {
		c.cfg.log.Debug("udpkit client: ICMP port unreachable with nothing waiting", "remote", c.remote)
	}
}

// unreachable handles an ICMP host or network unreachable reported by the
// socket: the newest unanswered PING fails with ErrUnreachable; messages
// keep retransmitting.
func (c *Client) unreachable(err error) {
	drainErrors(c.conn)
	c.unreachableCount.Add(1)
	c.mu.Lock()
	var ping *pingRecord
	for i := len(c.pingOrder) - 1; i >= 0; i-- {
		r := c.pings[c.pingOrder[i]]
		if r != nil && r.sent && r.replies == 0 && !r.refused {
			r.refused = true
			ping = r
			break
		}
	}
	c.mu.Unlock()
	if ping != nil {
		ping.fn(Pong{ID: ping.id, RTT: time.Since(ping.sentAt), Err: fmt.Errorf("%w: %s (%w)", ErrUnreachable, c.remote, err)})
	} else {
		c.cfg.log.Debug("udpkit client: host unreachable", "remote", c.remote, "err", err)
	}
}

// firstTimeout returns the first retransmission timeout of a new message:
// the current base timeout times a random factor in [1, 1.5).
func (c *Client) firstTimeout() time.Duration {
	t := time.Duration(float64(c.rtt.base()) * (1 + 0.5*c.cfg.jitter()))
	return min(t, c.cfg.max)
}

// datagram encodes a DATA message or reports ErrTooLarge. It is the
// unsealed message: transmit seals every transmission anew.
func (c *Client) datagram(id uint64, payload []byte) ([]byte, error) {
	if err := c.checkSize("payload", len(payload)); err != nil {
		return nil, err
	}
	return wire.AppendData(make([]byte, 0, wire.HeaderLen+len(payload)), id, payload), nil
}

// checkSize reports ErrTooLarge when a body of n bytes does not fit.
func (c *Client) checkSize(what string, n int) error {
	over := c.auth.overhead()
	if total := wire.HeaderLen + n + over; total > c.cfg.maxDatagram {
		if over > 0 {
			return fmt.Errorf("%w: %d-byte %s + %d-byte header + %d-byte authentication trailer = %d bytes, more than the %d-byte limit",
				ErrTooLarge, n, what, wire.HeaderLen, over, total, c.cfg.maxDatagram)
		}
		return fmt.Errorf("%w: %d-byte %s + %d-byte header = %d bytes, more than the %d-byte limit",
			ErrTooLarge, n, what, wire.HeaderLen, total, c.cfg.maxDatagram)
	}
	return nil
}
