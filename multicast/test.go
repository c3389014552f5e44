package multicast

// The API of a multicast test: its configuration, Test and its methods.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// Test defaults.
const (
	// DefaultCount is the number of probes of each kind when
	// TestConfig.Count is 0.
	DefaultCount = 10
	// DefaultInterval is the time between probes (omping and ping use 1 s).
	DefaultInterval = time.Second
	// DefaultStartWait bounds the start-up handshake: how long a
	// participant waits for every listed peer to answer a hello before it
	// sends its first counted probe.
	DefaultStartWait = 5 * time.Second
	// DefaultSettle is, with TestConfig.Discover, how long the start-up
	// handshake waits after the last newly found peer before the first
	// counted probe (when every found peer has answered).
	DefaultSettle = time.Second
	// maxPeers bounds the peers one test tracks, and so the table of
	// accepted sources and their reply budgets: unicast probes from
	// further addresses are neither answered nor reported.
	maxPeers = 1024
	// replyBurst and replyPerInterval are the per-source reply budget
	// (a token bucket): at most replyBurst replies at once, refilled
	// with replyPerInterval replies per TestConfig.Interval. A peer
	// running the same test needs 2 per interval (one group and one
	// unicast probe).
	replyBurst       = 16
	replyPerInterval = 4
)

// TestConfig configures RunTest. The zero value tests the group with
// DefaultCount probes at DefaultInterval against whoever else probes the
// group; list Peers to also measure unicast and to wait for them.
type TestConfig struct {
	// Config is the socket configuration (interfaces, SSM source, TTL,
	// loopback, NoJoin, logger). With NoJoin the participant neither
	// joins nor sends to the group: it only answers and sends unicast
	// probes, like a host that is not a member.
	Config
	// Peers are the other participants' unicast addresses (port: the
	// group's). A participant answers only probes from accepted sources
	// (PROTOCOL.md section 7): listed peers, peers added with
	// Test.AddPeer (discovery), sources that sent it a probe by unicast
	// (a hello introduces a participant that was not listed) and sources
	// that answered its probes. Probes that arrive through the group
	// from any other source are counted in Report.Ignored, not answered.
	Peers []netip.AddrPort
	// Discover says that peers are also added while the test runs, with
	// Test.AddPeer (from service discovery): the start-up handshake then
	// lasts until at least one peer was found, every peer found has
	// proven that it receives at its address (it answered our hello or
	// echoed our cookie: then it is probed from probe 1), every
	// participant that introduced itself by unicast has echoed our
	// cookie, and none was added or introduced itself for DefaultSettle;
	// or until StartWait.
	// Default: false.
	Discover bool
	// Count is the number of probes of each kind. Default (0):
	// DefaultCount; negative: until ctx ends.
	Count int
	// Interval is the time between probes. Default (0): DefaultInterval.
	Interval time.Duration
	// StartWait bounds the start-up handshake with the listed peers.
	// Default (0): DefaultStartWait; negative: no handshake.
	StartWait time.Duration
	// Linger is how long, after its last probe, a participant keeps
	// answering peers that are still probing and waits for late replies;
	// a peer whose last probe arrived ends the wait early. Default (0):
	// the larger of 1 s and 3 intervals.
	Linger time.Duration
	// Size is the size of each probe datagram in bytes (wire.ProbeLen..65507).
	// Default (0): wire.ProbeLen.
	Size int
	// Session identifies this run in the message IDs. Default (0):
	// random.
	Session uint32
	// OnEvent, if set, is called for every reply and every counted probe
	// received, from the test's reading goroutine; it must not block.
	OnEvent func(Event)
	// Keys, when set, authenticates the test (PROTOCOL.md 7): every PROBE
	// and REPLY is sealed (replies with the probe's key; Size includes
	// the trailer) and only datagrams that pass authentication and the
	// replay window are heard; the others are counted in
	// Report.Unauthenticated. Default none.
	Keys *auth.Keyring
}

// Event is one datagram seen during a test, for per-packet output.
type Event struct {
	// Peer is the address of the other participant.
	Peer netip.AddrPort
	// Reply is true for a reply to one of our probes (RTT is set), false
	// for a probe from the peer.
	Reply bool
	// Kind, Seq and Size describe the datagram.
	Kind wire.Kind
	Seq  uint32
	Size int
	// RTT is the round-trip time of a reply.
	RTT time.Duration
	// TTL is, for a reply, the TTL our probe arrived with at the peer;
	// for a probe, the TTL it arrived with here (-1 if unknown).
	TTL int
	// Interface is where the datagram arrived.
	Interface string
	// Duplicate and Reordered mark a sequence number seen before, or
	// lower than the highest seen.
	Duplicate bool
	Reordered bool
}

// RunTest runs an omping-style test of group: it joins the group, sends
// Count sequenced probes to the group and to every peer, answers the other
// participants' probes with unicast replies, and returns what it measured
// per peer. Every participant runs the same test. When ctx ends during the
// run, RunTest returns the figures so far with Report.Interrupted set;
// errors are for setup failures only. It is NewTest, Run and Close.
func RunTest(ctx context.Context, group netip.AddrPort, cfg TestConfig) (*Report, error) {
	t, err := NewTest(ctx, group, cfg)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	return t.Run(ctx), nil
}

// Test is a prepared multicast test: its socket is open and joined, and
// it answers nothing until Run. Close releases it.
type Test struct{ t *tester }

// NewTest opens the socket of a test and joins the group (see RunTest).
// ctx bounds the setup only.
func NewTest(ctx context.Context, group netip.AddrPort, cfg TestConfig) (*Test, error) {
	t, err := newTester(ctx, group, cfg)
	if err != nil {
		return nil, err
	}
	return &Test{t: t}, nil
}

// Conn returns the test's socket (to read its interfaces and memberships).
func (t *Test) Conn() *Conn { return t.t.conn }

// Session returns the test's session.
func (t *Test) Session() uint32 { return t.t.session }

// Run runs the test until its last probe was answered or ctx ends, and
// returns the report. Call it once.
func (t *Test) Run(ctx context.Context) *Report { return t.t.run(ctx) }

// Close leaves the group and closes the socket.
func (t *Test) Close() error { return t.t.conn.Close() }

// AddPeer adds a peer found while the test runs (by service discovery):
// like a listed peer, it is probed, greeted during the start-up handshake
// and answered. session is the peer's session if known (0 if not); a
// unicast probe carrying it may then come from another of the peer's
// addresses, which replaces addr. Adding a known peer again does nothing.
// It is safe to call from any goroutine, before or during Run.
func (t *Test) AddPeer(addr netip.AddrPort, session uint32) {
	tt := t.t
	if addr.Port() == 0 {
		addr = netip.AddrPortFrom(addr.Addr(), tt.conn.Group().Port())
	}
	if !addr.IsValid() || addr.Addr().Unmap().Is4() != tt.conn.Group().Addr().Is4() || session == tt.session ||
		!unicastPeer(addr.Addr()) {
		return
	}
	tt.mu.Lock()
	defer tt.mu.Unlock()
	p := tt.byAddr[peerKey(addr)]
	if p == nil && session != 0 {
		p = tt.bySess[session]
	}
	switch {
	case p != nil && p.listed:
		return // listed, or discovered before
	case p != nil:
		// It introduced itself (a unicast probe) before discovery found
		// it: from now on it is a discovered peer, greeted, waited for
		// and probed once proven, at the address it probes from.
		p.listed, p.discovered = true, true
	case len(tt.peers) >= maxPeers:
		return
	default:
		p = tt.addPeer(addr, true)
		p.discovered = true
	}
	if session != 0 && p.session == 0 {
		p.session = session
		tt.bySess[session] = p
	}
	tt.added = time.Now()
	select {
	case tt.peerDone <- struct{}{}:
	default:
	}
}

// DefaultTestConfig returns the defaults of a TestConfig spelled out
// (udpkit's convention: NewTest(ctx, g, DefaultTestConfig()) and
// NewTest(ctx, g, TestConfig{}) behave the same). Linger stays 0: its
// default follows Interval; Session stays 0: it is drawn per test.
func DefaultTestConfig() TestConfig {
	return TestConfig{Count: DefaultCount, Interval: DefaultInterval, StartWait: DefaultStartWait, Size: wire.ProbeLen}
}

// DefaultConfig returns the defaults of a Config spelled out (see
// DefaultTestConfig).
func DefaultConfig() Config { return Config{TTL: DefaultTTL} }

// withDefaults fills in the zero fields but Session.
func (cfg TestConfig) withDefaults() TestConfig {
	if cfg.Count == 0 {
		cfg.Count = DefaultCount
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.StartWait == 0 {
		cfg.StartWait = DefaultStartWait
	}
	if cfg.Linger <= 0 {
		cfg.Linger = max(time.Second, 3*cfg.Interval)
	}
	if cfg.Size == 0 {
		cfg.Size = wire.ProbeLen
	}
	return cfg
}

func newTester(ctx context.Context, group netip.AddrPort, cfg TestConfig) (*tester, error) {
	cfg = cfg.withDefaults()
	if cfg.Size < wire.ProbeLen || cfg.Size > 65507 {
		return nil, fmt.Errorf("multicast: probe size %d out of range %d..65507", cfg.Size, wire.ProbeLen)
	}
	if cfg.Session == 0 {
		var b [4]byte
		for cfg.Session == 0 {
			rand.Read(b[:])
			cfg.Session = binary.BigEndian.Uint32(b[:])
		}
	}
	t := &tester{
		cfg:      cfg,
		session:  cfg.Session,
		mcast:    !cfg.NoJoin,
		byAddr:   make(map[netip.AddrPort]*peerState),
		bySess:   make(map[uint32]*peerState),
		peerDone: make(chan struct{}, 1),
		log:      cfg.Logger,
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if _, err := rand.Read(t.cookieKey[:]); err != nil {
		return nil, fmt.Errorf("multicast: cookie key: %w", err)
	}
	g, err := auth.NewGate(cfg.Keys, auth.ReplayConfig{})
	if err != nil {
		return nil, err
	}
	t.gate = g
	if cfg.Count > 0 {
		t.count = uint32(cfg.Count)
	}
	for _, p := range cfg.Peers {
		if p.Port() == 0 {
			p = netip.AddrPortFrom(p.Addr(), group.Port())
		}
		if p.Addr().Unmap().Is4() != group.Addr().Unmap().Is4() {
			return nil, fmt.Errorf("multicast: peer %v is not of the group's address family", p)
		}
		if !unicastPeer(p.Addr()) {
			return nil, fmt.Errorf("multicast: peer %v is not a unicast address", p.Addr())
		}
		if _, dup := t.byAddr[peerKey(p)]; dup {
			continue
		}
		t.addPeer(p, true)
	}
	c, err := Listen(ctx, group, cfg.Config)
	if err != nil {
		return nil, err
	}
	t.conn = c
	if c.Joined() {
		t.flags = wire.ProbeMember
	}
	t.sendG = t.mcast && (!cfg.Source.IsValid() || netif.IsLocal(cfg.Source))
	return t, nil
}
