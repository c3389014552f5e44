package multicast

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/udpkit/udpkit/internal/readloop"
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
	// answered and none was added for DefaultSettle, or until StartWait.
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
}

// Event is one datagram seen during a test, for per-packet output.
type Event struct {
	// Peer is the address of the other participant.
	Peer netip.AddrPort
	// wire.Reply is true for a reply to one of our probes (RTT is set), false
	// for a probe from the peer.
	Reply bool
	// wire.Kind, Seq and Size describe the datagram.
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

// Report is the outcome of RunTest.
type Report struct {
	// Group, Source and TTL are what was tested.
	Group  netip.AddrPort `json:"group"`
	Source netip.Addr     `json:"source,omitzero"`
	TTL    int            `json:"ttl"`
	// Joined is false for a participant started with NoJoin.
	Joined bool `json:"joined"`
	// Session is this participant's session.
	Session uint32 `json:"session"`
	// Sent is the number of counted probes of each kind sent.
	Sent int `json:"sent"`
	// Interfaces are the interfaces used.
	Interfaces []string `json:"interfaces"`
	// SendsGroup is false for a participant that does not send to the
	// group: one started with NoJoin, and, in a source-specific test,
	// every participant but the source (it only receives the group).
	SendsGroup bool `json:"sends_group"`
	// Ignored counts the counted probes (not hellos) that came through
	// the group from
	// sources that were not accepted (neither listed, discovered nor
	// introduced by unicast), and so were not answered; IgnoredSources
	// is how many distinct addresses sent them (counted up to 1024).
	Ignored        int `json:"ignored"`
	IgnoredSources int `json:"ignored_sources"`
	// RateLimited counts the probes not answered because their source
	// exceeded its reply budget.
	RateLimited int `json:"rate_limited"`
	// Interrupted is true when ctx ended the test early.
	Interrupted bool `json:"interrupted"`
	// Duration is the length of the test.
	Duration time.Duration `json:"duration_ns"`
	// Peers has one entry per peer, listed ones first.
	Peers []PeerReport `json:"peers"`
}

// PeerReport is what one participant measured towards one peer.
type PeerReport struct {
	// Peer is the peer's unicast address.
	Peer netip.AddrPort `json:"peer"`
	// Listed is true for a peer given in TestConfig.Peers, false for one
	// found otherwise.
	Listed bool `json:"listed"`
	// Discovered is true for a peer added with Test.AddPeer.
	Discovered bool `json:"discovered"`
	// Answered is true when the peer showed that it knows us: it sent us
	// a probe by unicast or answered one of ours.
	Answered bool `json:"answered"`
	// Interface is the local interface the peer's last datagram arrived
	// on ("" when the system does not tell).
	Interface string `json:"interface,omitempty"`
	// Member says whether the peer joined the group, as its own packets
	// tell: "yes", "no" or "unknown" (nothing heard).
	Member string `json:"member"`
	// Multicast and Unicast are the figures for each kind of probe.
	// Multicast is nil when neither this participant nor the peer sends
	// to the group (NoJoin, or two receivers of a source-specific test).
	// In a source-specific test a receiver sends nothing to the group:
	// its Multicast report on the source is ReceiveOnly.
	Multicast *KindReport `json:"multicast"`
	Unicast   *KindReport `json:"unicast"`
}

// KindReport holds the figures of one kind of probe towards one peer.
type KindReport struct {
	// Xmt is the number of our probes of this kind counted towards the
	// peer: every one sent from First to the end of the run (all of them
	// for a peer heard before the first probe), whether or not the peer
	// was still answering. Rcv is how many of them the peer received, as
	// its own counter says (the highest value in its replies; probes it
	// received after its last reply that came back are not known, so
	// they count as lost). Loss is the one-way loss from us to the peer
	// in percent: the headline figure, the back path does not count
	// except for the replies to the last probes. A peer that stops
	// answering halfway, or whose group traffic stops, shows that loss.
	Xmt  int     `json:"xmt"`
	Rcv  int     `json:"rcv"`
	Loss float64 `json:"loss_percent"`
	// First is the first of our sequence numbers counted (1 unless the
	// peer was first heard after the probes started; 0 when none were
	// sent).
	First int `json:"first_seq"`
	// Sent, Replies and RoundTripLoss count the replies that came back
	// (loss out and back, as omping reports it); Sent equals Xmt.
	Sent          int     `json:"sent"`
	Replies       int     `json:"replies"`
	RoundTripLoss float64 `json:"round_trip_loss_percent"`
	// Duplicates and Reordered count duplicate and out-of-order replies.
	Duplicates int `json:"duplicates"`
	Reordered  int `json:"reordered"`
	// RTTMin, RTTAvg, RTTMax and RTTStdDev summarize the round-trip times
	// (zero without replies).
	RTTMin    time.Duration `json:"rtt_min_ns"`
	RTTAvg    time.Duration `json:"rtt_avg_ns"`
	RTTMax    time.Duration `json:"rtt_max_ns"`
	RTTStdDev time.Duration `json:"rtt_stddev_ns"`
	// TTLSent is the TTL our probes left with; TTLSeen the TTL they
	// arrived with at the peer (from its last reply; -1 unknown).
	TTLSent int `json:"ttl_sent"`
	TTLSeen int `json:"ttl_seen"`
	// From is what we received of the peer's own probes of this kind.
	From FlowReport `json:"from_peer"`
	// ReceiveOnly is set on the multicast report of a receiver of a
	// source-specific test, about the source: we sent nothing to the
	// group, only From counts.
	ReceiveOnly bool `json:"receive_only,omitempty"`
}

// FlowReport counts the probes received from a peer (one-way, peer to us).
type FlowReport struct {
	// First is the first of the peer's sequence numbers counted: 1 when
	// we heard from the peer's session before (a hello, an answer to our
	// hello, or an earlier probe of the other kind), so a stream that
	// starts late counts its missing start as lost; otherwise the first
	// one received (we may have started after the peer, as asmping
	// counts "since the first packet").
	First int `json:"first_seq"`
	// Expected is the number of probes the peer sent from First to its
	// last (its planned count, announced in every probe, or the highest
	// seen when it runs until stopped).
	Expected int `json:"expected"`
	// Received counts distinct sequence numbers received.
	Received int `json:"received"`
	// Loss is the one-way loss in percent.
	Loss float64 `json:"loss_percent"`
	// Duplicates and Reordered count repeated and late probes.
	Duplicates int `json:"duplicates"`
	Reordered  int `json:"reordered"`
	// TTL is the TTL the last probe arrived with here (-1 unknown).
	TTL int `json:"ttl"`
}

// Status values of PeerReport.Status.
const (
	StatusOK        = "ok"           // within the loss threshold
	StatusNoAnswer  = "no answer"    // nothing came back at all
	StatusNotJoined = "not joined"   // the peer says it is not a member
	StatusNoMcast   = "no multicast" // a member that received none of our group probes
	StatusLoss      = "loss"         // more loss than allowed
)

// Status judges the peer against maxLoss (percent): StatusOK when the
// multicast loss (the unicast loss when there is no multicast report; the
// loss of the source's group probes for a receiver of a source-specific
// test) is at most maxLoss; otherwise the reason.
func (p PeerReport) Status(maxLoss float64) string {
	if !p.Answered {
		return StatusNoAnswer
	}
	k := p.Multicast
	switch {
	case k == nil:
		k = p.Unicast
	case p.Member == "no":
		return StatusNotJoined
	case k.ReceiveOnly: // SSM receiver: judge what came from the source
		if k.From.Received == 0 {
			return StatusNoMcast
		}
		if k.From.Loss > maxLoss {
			return StatusLoss
		}
		return StatusOK
	case k.Xmt > 0 && k.Rcv == 0:
		return StatusNoMcast
	}
	if k.Loss > maxLoss {
		return StatusLoss
	}
	return StatusOK
}

// OK reports whether every peer is StatusOK and there is at least one.
func (r *Report) OK(maxLoss float64) bool {
	if len(r.Peers) == 0 {
		return false
	}
	for _, p := range r.Peers {
		if p.Status(maxLoss) != StatusOK {
			return false
		}
	}
	return true
}

// kindState is what we know of one kind of probe towards one peer.
type kindState struct {
	base     uint32 // first of our seqs sent after the peer was heard; 0 none yet
	replies  seqTracker
	rtt      rttStats
	lastSeq  uint32 // highest seq replied to
	received uint32 // the peer's counter of our probes: the highest reported
	first    uint32 // the lowest of our seqs the peer says it received
	ttlSeen  int
	// from the peer's probes of this kind
	from     map[uint32]*seqTracker // by sender session
	fromTTL  int
	fromLast uint32    // session of the last probe
	fromSeen time.Time // when the last probe of this kind came
}

type peerState struct {
	addr       netip.AddrPort
	listed     bool
	discovered bool
	heard      bool // it knows us: a unicast probe or a reply came from it
	iface      string
	tokens     float64   // reply budget
	refilled   time.Time // when tokens was last refilled
	member     string
	session    uint32
	count      uint32 // the peer's planned count
	lastHigh   uint32 // highest seq of any kind from the peer
	lastSeen   time.Time
	kinds      [3]kindState // by wire.Kind
	// sessLow is, per sender session, the lowest seq of anything
	// received from it (0: a hello, or a reply to our hello): a session
	// heard before its first counted probe is counted from seq 1.
	sessLow map[uint32]uint32
}

// tester is one running test.
type tester struct {
	cfg     TestConfig
	conn    *Conn
	log     *slog.Logger
	start   time.Time
	session uint32
	flags   wire.ProbeFlags
	mcast   bool   // joined: reports multicast figures
	sendG   bool   // sends to the group (not NoJoin; SSM: only the source)
	count   uint32 // 0 = unbounded

	mu       sync.Mutex
	peers    []*peerState
	byAddr   map[netip.AddrPort]*peerState
	bySess   map[uint32]*peerState
	seq      uint32 // last counted seq sent
	buf      []byte
	peerDone chan struct{} // signalled when something arrives
	added    time.Time     // when the last peer was added by AddPeer
	ignored  int
	ignSrc   map[netip.Addr]struct{}
	limited  int
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
	if tt.byAddr[peerKey(addr)] != nil || session != 0 && tt.bySess[session] != nil || len(tt.peers) >= maxPeers {
		return
	}
	p := tt.addPeer(addr, true)
	p.discovered = true
	if session != 0 {
		p.session = session
		tt.bySess[session] = p
	}
	tt.added = time.Now()
	select {
	case tt.peerDone <- struct{}{}:
	default:
	}
}

func newTester(ctx context.Context, group netip.AddrPort, cfg TestConfig) (*tester, error) {
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
	t.sendG = t.mcast && (!cfg.Source.IsValid() || isLocalAddr(cfg.Source))
	return t, nil
}

// unicastPeer reports whether a can be a peer: not a multicast,
// unspecified or limited broadcast (255.255.255.255) address.
func unicastPeer(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && !a.IsMulticast() && !a.IsUnspecified() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// peerKey is the map key of a peer address: unmapped, without zone.
func peerKey(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap().WithZone(""), a.Port())
}

// isLocalAddr reports whether a is one of this host's addresses: in a
// source-specific test only the source sends to the group.
func isLocalAddr(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if ipn, ok := x.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap() == a.Unmap().WithZone("") {
				return true
			}
		}
	}
	return false
}

func (t *tester) addPeer(a netip.AddrPort, listed bool) *peerState {
	p := &peerState{addr: netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), listed: listed, member: "unknown",
		tokens: replyBurst, sessLow: make(map[uint32]uint32)}
	for k := range p.kinds {
		p.kinds[k].ttlSeen, p.kinds[k].fromTTL = -1, -1
		p.kinds[k].from = make(map[uint32]*seqTracker)
	}
	t.peers = append(t.peers, p)
	t.byAddr[peerKey(a)] = p
	return p
}

func (t *tester) now() uint64 { return uint64(time.Since(t.start)) }

func (t *tester) run(ctx context.Context) *Report {
	t.start = time.Now()
	readCtx, stopRead := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { t.readLoop(readCtx) })

	interrupted := !t.handshake(ctx)
	if !interrupted {
		interrupted = !t.probeLoop(ctx)
	}
	if !interrupted {
		interrupted = !t.linger(ctx)
	}
	stopRead()
	wg.Wait()
	return t.report(interrupted)
}

// handshake sends hellos (seq 0) until every listed peer has been heard
// or StartWait has passed. It returns false if ctx ended.
func (t *tester) handshake(ctx context.Context) bool {
	if t.cfg.StartWait < 0 || len(t.cfg.Peers) == 0 && !t.cfg.Discover {
		return ctx.Err() == nil
	}
	deadline := time.NewTimer(t.cfg.StartWait)
	defer deadline.Stop()
	tick := time.NewTicker(min(t.cfg.Interval, 200*time.Millisecond))
	defer tick.Stop()
	send := true
	for {
		if t.handshakeDone(time.Now()) {
			return true
		}
		if send { // on the ticker only: answers must not trigger hellos
			t.send(0, true)
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return true
		case <-tick.C:
			send = true
		case <-t.peerDone:
			send = false
		}
	}
}

// handshakeDone reports whether every listed (or found) peer was heard
// and, with Discover, at least one was found and none was added for
// DefaultSettle.
func (t *tester) handshakeDone(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg.Discover && (len(t.peers) == 0 || now.Sub(t.added) < min(DefaultSettle, t.cfg.StartWait)) {
		return false
	}
	for _, p := range t.peers {
		if p.listed && !p.heard {
			return false
		}
	}
	return true
}

// probeLoop sends the counted probes. It returns false if ctx ended.
func (t *tester) probeLoop(ctx context.Context) bool {
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for seq := uint32(1); t.count == 0 || seq <= t.count; seq++ {
		t.send(seq, false)
		if t.count != 0 && seq == t.count {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// linger keeps answering until every peer that was heard has finished (its
// last probe arrived, or it was silent for Linger) and our own last
// replies had Linger to come back. It returns false if ctx ended.
func (t *tester) linger(ctx context.Context) bool {
	end := time.Now().Add(t.cfg.Linger)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		if t.finished(now, end) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// finished reports whether the linger phase may end.
func (t *tester) finished(now, end time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	repliesIn := true
	for _, p := range t.peers {
		if !p.heard {
			continue
		}
		if !t.peerFinished(p, now) {
			return false
		}
		for _, k := range t.kinds() {
			if p.kinds[k].lastSeq < t.seq {
				repliesIn = false
			}
		}
	}
	return repliesIn || !now.Before(end)
}

// peerFinished reports whether we may stop answering p: it runs until
// stopped (it does not wait for us either), it was silent for Linger, or
// its last probe of each kind arrived. Both kinds count: the last group
// probe and the last unicast probe of a run travel separately, and a
// participant that left after the first of them would leave the other
// unanswered (the peer would count it as lost). A kind of which nothing
// came for Linger (or nothing at all) is not waited for.
func (t *tester) peerFinished(p *peerState, now time.Time) bool {
	if p.count == 0 || now.Sub(p.lastSeen) > t.cfg.Linger {
		return true
	}
	if p.lastHigh < p.count {
		return false
	}
	for _, k := range []wire.Kind{wire.KindMulticast, wire.KindUnicast} {
		ks := &p.kinds[k]
		tr := ks.from[p.session]
		if tr != nil && tr.highest < p.count && now.Sub(ks.fromSeen) <= t.cfg.Linger {
			return false
		}
	}
	return true
}

// kinds returns the kinds of probe this participant sends.
func (t *tester) kinds() []wire.Kind {
	if t.sendG {
		return []wire.Kind{wire.KindMulticast, wire.KindUnicast}
	}
	return []wire.Kind{wire.KindUnicast}
}

// send sends probe seq to the group and to every peer (hello: only to the
// listed peers not heard yet, and to the group).
func (t *tester) send(seq uint32, hello bool) {
	t.mu.Lock()
	if !hello {
		t.seq = seq
	}
	var targets []netip.AddrPort
	for _, p := range t.peers {
		if hello && (p.heard || !p.listed) {
			continue
		}
		targets = append(targets, p.addr)
		if !hello && p.heard {
			for _, k := range t.kinds() {
				if p.kinds[k].base == 0 {
					p.kinds[k].base = seq
				}
			}
		}
	}
	t.mu.Unlock()

	pr := wire.Probe{
		Session: t.session, Seq: seq, Flags: t.flags, Count: t.count,
		IntervalMillis: uint32(t.cfg.Interval / time.Millisecond), Pad: t.cfg.Size - wire.ProbeLen,
	}
	if t.count != 0 && seq == t.count {
		pr.Flags |= wire.ProbeLast
	}
	if t.sendG {
		pr.Kind, pr.TTL, pr.Time = wire.KindMulticast, uint8(t.conn.TTL()), t.now()
		t.buf = wire.AppendProbe(t.buf[:0], pr)
		if _, err := t.conn.WriteGroup(t.buf); err != nil {
			t.log.Warn("multicast: probe to group", "seq", seq, "err", err)
		}
	}
	pr.Kind, pr.TTL = wire.KindUnicast, uint8(t.conn.UnicastTTL())
	for _, a := range targets {
		pr.Time = t.now()
		t.buf = wire.AppendProbe(t.buf[:0], pr)
		if err := t.conn.WriteTo(t.buf, a); err != nil {
			t.log.Debug("multicast: probe to peer", "peer", a, "seq", seq, "err", err)
		}
	}
}

// readLoop answers probes and records replies until ctx ends.
func (t *tester) readLoop(ctx context.Context) {
	b := make([]byte, 65536)
	var out []byte
	var fails readloop.Failures
	for {
		pk, err := t.conn.Read(ctx, b)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return
			}
			if !fails.Failed(ctx.Done(), t.log, "multicast: read", err) {
				return
			}
			continue
		}
		fails.Succeeded()
		d := b[:pk.N]
		h, body, err := wire.Parse(d) // parsed once, dispatched by type
		if err != nil {
			continue
		}
		switch h.Type {
		case wire.TypeProbe:
			pr, err := wire.ParseProbe(h, body)
			if err != nil || pr.Session == t.session {
				continue
			}
			if r, dst, ok := t.onProbe(pr, pk); ok {
				out = wire.AppendReply(out[:0], r)
				if len(out) <= len(d) { // never larger than the probe
					if err := t.conn.WriteTo(out, dst); err != nil {
						t.log.Debug("multicast: reply", "peer", dst, "err", err)
					}
				}
			}
		case wire.TypeReply:
			r, err := wire.ParseReply(h, body)
			if err != nil || r.Session != t.session {
				continue
			}
			t.onReply(r, pk)
		}
		select {
		case t.peerDone <- struct{}{}:
		default:
		}
	}
}

// peerFor finds or adds the peer that sent a reply (a reply carries our
// session, so its sender got our probe).
func (t *tester) peerFor(src netip.AddrPort, session uint32) *peerState {
	p := t.byAddr[peerKey(src)]
	if p == nil && session != 0 {
		p = t.bySess[session]
	}
	if p == nil {
		if len(t.peers) >= maxPeers {
			return nil
		}
		p = t.addPeer(src, false)
	}
	if session != 0 && p.session != session {
		p.session = session
		t.bySess[session] = p
	}
	return p
}

// acceptProbe returns the peer that sent a probe and the address to send
// the reply to, or nil when the probe must not be answered (PROTOCOL.md
// section 7, "Whom to answer"):
//
//   - a probe by unicast introduces its source (one datagram in, one
//     out): it is answered at its source address;
//   - a probe through the group from an accepted address is answered at
//     that address;
//   - a probe through the group from another address but carrying the
//     session of a known peer (an IPv6 host sends to a link-local group
//     from its fe80:: address, while it was listed, discovered or
//     introduced with another one) is that peer's, and is answered at the
//     peer's known address, never at the probe's source: a forged probe
//     with a known session draws replies only to that peer, within its
//     budget, not to a victim;
//   - any other probe through the group is ignored.
func (t *tester) acceptProbe(pr wire.Probe, pk Packet) (*peerState, netip.AddrPort) {
	src := netip.AddrPortFrom(pk.Src.Addr().Unmap(), pk.Src.Port())
	p := t.byAddr[peerKey(pk.Src)]
	if p != nil {
		if pr.Session != 0 && p.session != pr.Session {
			if q := t.bySess[p.session]; q == p {
				delete(t.bySess, p.session)
			}
			p.session = pr.Session
			t.bySess[pr.Session] = p
		}
		return p, src
	}
	q := t.bySess[pr.Session]
	if pk.Multicast {
		if q != nil {
			return q, q.addr
		}
		if pr.Seq == 0 {
			return nil, src // a hello to the group from a participant not known yet
		}
		t.ignored++
		if t.ignSrc == nil {
			t.ignSrc = make(map[netip.Addr]struct{})
		}
		if len(t.ignSrc) < maxPeers {
			t.ignSrc[pk.Src.Addr().WithZone("")] = struct{}{}
		}
		return nil, src
	}
	// A unicast probe: the source introduces itself. A peer added by
	// AddPeer with this session, not heard yet, moves to this address;
	// another known peer keeps its address (it has several) and is
	// answered at this one.
	if q != nil {
		if q.discovered && !q.heard {
			delete(t.byAddr, peerKey(q.addr))
			q.addr = src
			t.byAddr[peerKey(q.addr)] = q
		}
		return q, src
	}
	if len(t.peers) >= maxPeers {
		t.ignored++
		return nil, src
	}
	p = t.addPeer(pk.Src, false)
	p.session = pr.Session
	t.bySess[pr.Session] = p
	return p, src
}

// allowReply takes one reply from p's budget.
func (t *tester) allowReply(p *peerState, now time.Time) bool {
	if !p.refilled.IsZero() {
		per := float64(replyPerInterval) / t.cfg.Interval.Seconds()
		p.tokens = min(replyBurst, p.tokens+now.Sub(p.refilled).Seconds()*per)
	}
	p.refilled = now
	if p.tokens < 1 {
		t.limited++
		return false
	}
	p.tokens--
	return true
}

// onProbe records a probe and returns the reply to send and where to.
func (t *tester) onProbe(pr wire.Probe, pk Packet) (wire.Reply, netip.AddrPort, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, dst := t.acceptProbe(pr, pk)
	if p == nil {
		return wire.Reply{}, dst, false
	}
	now := time.Now()
	if !pk.Multicast {
		p.heard = true
	}
	p.lastSeen = now
	if pk.Interface != "" {
		p.iface = pk.Interface
	}
	p.count = pr.Count
	if pr.Flags&wire.ProbeMember != 0 {
		p.member = "yes"
	} else if p.member == "unknown" {
		p.member = "no"
	}
	if pr.Seq > p.lastHigh {
		p.lastHigh = pr.Seq
	}
	if low, ok := p.sessLow[pr.Session]; !ok || pr.Seq < low {
		if !ok && len(p.sessLow) >= 16 { // a peer restarting over and over
			clear(p.sessLow)
		}
		p.sessLow[pr.Session] = pr.Seq
	}
	var received, first uint32
	if pr.Seq != 0 {
		ks := &p.kinds[pr.Kind]
		ks.fromSeen = now
		tr := ks.from[pr.Session]
		if tr == nil {
			if len(ks.from) >= 16 { // a peer restarting over and over
				clear(ks.from)
			}
			tr = &seqTracker{}
			ks.from[pr.Session] = tr
		}
		ks.fromLast = pr.Session
		dup, reord := tr.add(pr.Seq)
		ks.fromTTL = pk.TTL
		received, first = tr.received, tr.first
		if t.cfg.OnEvent != nil {
			t.cfg.OnEvent(Event{Peer: p.addr, Kind: pr.Kind, Seq: pr.Seq, Size: pk.N, TTL: pk.TTL,
				Interface: pk.Interface, Duplicate: dup, Reordered: reord})
		}
	}
	if !t.allowReply(p, now) {
		return wire.Reply{}, dst, false
	}
	ttl := uint8(0)
	if pk.TTL > 0 && pk.TTL < 256 {
		ttl = uint8(pk.TTL)
	}
	return wire.ReplyTo(pr, ttl, t.session, t.flags, received, first), dst, true
}

func (t *tester) onReply(r wire.Reply, pk Packet) {
	rtt := time.Duration(t.now() - r.Time)
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peerFor(pk.Src, r.Responder)
	if p == nil {
		return
	}
	p.heard = true
	p.lastSeen = time.Now()
	if pk.Interface != "" {
		p.iface = pk.Interface
	}
	if r.Flags&wire.ProbeMember != 0 {
		p.member = "yes"
	} else if p.member == "unknown" {
		p.member = "no"
	}
	if r.Seq == 0 {
		// An answer to our hello: the peer runs, and so its probe 1
		// comes later.
		if r.Responder != 0 {
			if _, ok := p.sessLow[r.Responder]; !ok && len(p.sessLow) >= 16 {
				clear(p.sessLow)
			}
			p.sessLow[r.Responder] = 0
		}
		return
	}
	if r.Kind != wire.KindMulticast && r.Kind != wire.KindUnicast {
		return
	}
	ks := &p.kinds[r.Kind]
	if ks.base != 0 && r.Seq < ks.base {
		return
	}
	dup, reord := ks.replies.add(r.Seq)
	if !dup {
		ks.rtt.add(rtt)
		// The peer's counter only grows: the highest one reported is
		// the most recent, whatever order the replies came in.
		ks.received = max(ks.received, r.Received)
		if r.First != 0 && (ks.first == 0 || r.First < ks.first) {
			ks.first = r.First
		}
		if r.Seq >= ks.lastSeq {
			ks.lastSeq = r.Seq
			ks.ttlSeen = int(r.TTLSeen)
			if r.TTLSeen == 0 {
				ks.ttlSeen = -1
			}
		}
	}
	if t.cfg.OnEvent != nil {
		ttl := int(r.TTLSeen)
		if ttl == 0 {
			ttl = -1
		}
		t.cfg.OnEvent(Event{Peer: p.addr, Reply: true, Kind: r.Kind, Seq: r.Seq, Size: pk.N, RTT: rtt,
			TTL: ttl, Interface: pk.Interface, Duplicate: dup, Reordered: reord})
	}
}

func (t *tester) report(interrupted bool) *Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := &Report{
		Group: t.conn.Group(), Source: t.conn.Source(), TTL: t.conn.TTL(), Joined: t.conn.Joined(),
		Session: t.session, Sent: int(t.seq), Interrupted: interrupted, Duration: time.Since(t.start),
		SendsGroup: t.sendG, Ignored: t.ignored, IgnoredSources: len(t.ignSrc), RateLimited: t.limited,
	}
	for _, ifi := range t.conn.Interfaces() {
		r.Interfaces = append(r.Interfaces, ifi.Name)
	}
	for _, p := range t.peers {
		pr := PeerReport{Peer: p.addr, Listed: p.listed && !p.discovered, Discovered: p.discovered,
			Answered: p.heard, Interface: p.iface, Member: p.member}
		if t.sendG || t.mcast && p.addr.Addr().WithZone("") == t.conn.Source().WithZone("") {
			pr.Multicast = t.kindReport(p, wire.KindMulticast, t.conn.TTL())
		}
		pr.Unicast = t.kindReport(p, wire.KindUnicast, t.conn.UnicastTTL())
		r.Peers = append(r.Peers, pr)
	}
	sort.SliceStable(r.Peers, func(i, j int) bool { return r.Peers[i].Listed && !r.Peers[j].Listed })
	return r
}

func (t *tester) kindReport(p *peerState, k wire.Kind, ttl int) *KindReport {
	ks := &p.kinds[k]
	kr := &KindReport{TTLSent: ttl, TTLSeen: ks.ttlSeen}
	// Our probes towards p are counted from its base (the first sent
	// after p was heard; 1 for a peer heard before the first probe),
	// or from the lowest the peer says it received if that is earlier,
	// to the last one sent: a peer that stops answering halfway is not
	// covered up.
	low := uint32(1)
	if ks.base != 0 {
		low = ks.base
	}
	if ks.first != 0 && ks.first < low {
		low = ks.first
	}
	sent := int(t.seq) - int(low) + 1
	if k == wire.KindMulticast && !t.sendG {
		sent, kr.ReceiveOnly = 0, true
	}
	kr.Sent = max(sent, 0)
	if kr.Sent > 0 {
		kr.First = int(low)
	}
	kr.Replies = int(ks.replies.received)
	kr.Duplicates, kr.Reordered = ks.replies.dups, ks.replies.reordered
	// Replies to probes below base are not counted (see handleReply), so
	// the round trip is judged over the probes from base on.
	rtSent := kr.Sent
	if ks.base > low {
		rtSent = max(rtSent-int(ks.base-low), 0)
	}
	kr.RoundTripLoss = lossPercent(rtSent, kr.Replies)
	if ks.rtt.n > 0 {
		kr.RTTMin, kr.RTTMax = ks.rtt.min, ks.rtt.max
		kr.RTTAvg, kr.RTTStdDev = time.Duration(ks.rtt.mean), ks.rtt.stddev()
	}
	kr.Xmt = kr.Sent
	kr.Rcv = min(int(ks.received), kr.Xmt)
	kr.Loss = lossPercent(kr.Xmt, kr.Rcv)
	kr.From.TTL = ks.fromTTL
	if tr := ks.from[ks.fromLast]; tr != nil {
		// The peer's probes are counted from its seq 1 when we heard
		// its session before (a hello, or a probe of the other kind),
		// else from the first received (we may have started late), to
		// its planned count (or the highest seen).
		end := tr.highest
		if p.session == ks.fromLast && p.count > end {
			end = p.count
		}
		first := tr.first
		if l, ok := p.sessLow[ks.fromLast]; ok && l < first {
			first = max(l, 1)
		}
		kr.From.First = int(first)
		kr.From.Expected = int(end) - int(first) + 1
		kr.From.Received = int(tr.received)
		kr.From.Duplicates, kr.From.Reordered = tr.dups, tr.reordered
		kr.From.Loss = lossPercent(kr.From.Expected, kr.From.Received)
	}
	return kr
}
