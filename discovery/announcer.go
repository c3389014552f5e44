package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/internal/readloop"
	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// AnnouncerConfig configures an Announcer. The zero value of every field
// but Port works; each field documents its default.
type AnnouncerConfig struct {
	// Service is the DNS-SD service type; default DefaultService.
	Service string
	// Instance is the instance name, unique on the LAN (1 to 63 bytes of
	// UTF-8); default DefaultInstance(Port, the announced addresses).
	Instance string
	// Port is the UDP port the server listens on. Required.
	Port uint16
	// Bound are the addresses the server's sockets are bound to. A server
	// bound to specific addresses is announced only on the interfaces
	// that hold them, with only those addresses; bound to loopback only,
	// it is announced nowhere (NewAnnouncer returns ErrNoInterface).
	// A wildcard keeps its family's addresses: 0.0.0.0 every IPv4
	// address, :: every IPv6 one (give both for a dual-stack socket, as
	// udpserver.Bound does). Default (empty): every selected interface
	// with all its addresses.
	Bound []netip.Addr
	// Interfaces selects interfaces in netif syntax (names, addresses,
	// CIDR prefixes, go-sockaddr templates). Default: the netif default
	// selection (up, not loopback, broadcast or multicast capable).
	Interfaces []string
	// Attrs are attributes in DNS-SD TXT form, "key=value" or "key".
	// Default none.
	Attrs []string
	// TTL is how long receivers keep an announcement, rounded down to
	// whole seconds; re-announcements come every 2/3 of it. Default
	// DefaultTTL (120 s); at least 1 s.
	TTL time.Duration
	// MaxAnswerDelay is the longest random delay before the shared copy
	// of an answer (to the broadcast address or ff02::1); the answer to
	// the querier itself goes at once. Default DefaultMaxAnswerDelay
	// (5 ms); negative means none.
	MaxAnswerDelay time.Duration
	// SourceRate limits the answers sent to one source address and port,
	// so that a flood of queries (spoofed or not) never turns into a
	// flood of answers to one socket. Keyed by port too: a forger that
	// sends queries with a browser's address must not use up the
	// browser's answers (a browser asks from a fresh port). Default
	// DefaultSourceRate (20 a second, bursts of 40); PerSecond < 0: no
	// per-source limit. At most 1024 sources are tracked; when all are
	// active, one is forgotten for a new one.
	SourceRate Rate
	// GlobalRate limits all answers together. Default DefaultGlobalRate
	// (200 a second, bursts of 400); PerSecond < 0: no limit. Beyond it,
	// answers to full-size queries (at least 1024 bytes, as browsers
	// send) have a reserve of ten times GlobalRate (AnnouncerStats.Reserved),
	// so that a flood of small spoofed queries cannot silence a server.
	GlobalRate Rate
	// DiscoveryPort is the UDP port of discovery traffic. Default wire.DiscoveryPort
	// (9798); tests change it.
	DiscoveryPort int
	// Keys, when set, authenticates discovery (PROTOCOL.md 6.7): every
	// announcement, goodbye, probe and answer is sealed (answers with the
	// key of the query), and only queries and announcements that pass
	// authentication and the replay window are heard. Default none:
	// unauthenticated, AUTH datagrams dropped.
	Keys *auth.Keyring
	// Logger receives warnings (an interface that failed) and debug
	// detail. Default: nothing is logged.
	Logger *slog.Logger
}

// An Announcer makes one service instance known on the LAN (PROTOCOL.md
// section 6): a burst of announcements when Run starts, re-announcements
// every 2/3 TTL with jitter (one datagram each), an answer to every
// matching query within the answer budget the servers of a link share
// (PROTOCOL.md 6.4), and goodbyes when Run's context ends. On each interface it
// sends to the subnet's directed broadcast address, to the IPv4 group
// 239.255.97.97 and to the IPv6 group ff02::9797, always naming only the
// server's addresses on that interface.
//
// Several Announcers, in one process or many, can share a host: they all
// bind the discovery port with address reuse.
//
// An Announcer detects another server using its instance name (PROTOCOL.md
// section 6.6): the queries it sends at start to learn its peers (budget.go)
// are its probes for its own name, and it listens
// to the others' announcements. A generated name (AnnouncerConfig.Instance
// empty) that conflicts during the start burst is replaced by a new one,
// logged as a warning; after the burst the Announcer holds its name (first
// come), and a configured name is always kept: the conflict is counted and
// logged once per peer.
type Announcer struct {
	cfg     AnnouncerConfig // resolved copy; cfg.Instance changes on a rename (under mu)
	log     *slog.Logger
	links   []netif.Interface
	ttl     uint32
	auto    bool     // the instance name was generated: rename on a conflict while probing
	shared  []pconn  // discovery port: hear queries
	uni     [2]pconn // ephemeral, IPv4 and IPv6: send, hear unicast queries
	running atomic.Bool
	closeMu sync.Once
	closeEr error
	closing chan struct{}   // closed by Close: Run returns
	gate    *auth.Gate      // nil without keys
	full    [2]atomic.Int64 // per uni socket: no answers tried before this (Unix ns; send)
	bcast   [2]pconn        // the shared socket of each family: answers when uni's buffer is full

	mu   sync.Mutex
	seen map[queryKey]*queryState // queries handled or waiting for budget

	// loop serializes the Announcer's state: Run's timers and the read
	// loops, which answer a query in the goroutine that read it (no hop
	// to another goroutine, which would cost a thread wake-up per
	// datagram before the answer leaves). Lock order: loop, then mu.
	loop sync.Mutex
	// wake tells Run that pending or restart changed (capacity 1).
	wake chan struct{}
	// Under loop.
	pending    []pendingAnswer          // shared copies waiting for their delay, soonest first
	restart    bool                     // renamed: Run restarts the burst and the peer discovery
	limiter    *answerLimiter           // nil: no limit
	peers      map[int]map[uint64]*peer // by interface index and known-answer hash
	own        [256]uint64              // IDs of recent messages this Announcer sent
	ownN       int
	logged     []netip.Addr // conflicting peers already logged (capped)
	lastRename time.Time
	warm       bool      // the start's peer discovery is over (budget.go)
	warmRound  int       // peer-discovery rounds sent
	warmQuiet  int       // rounds in a row that found no new peer
	warmFound  int       // peers first heard in an answer to our queries
	warmPeers  int       // warmFound when the last round went out
	probeUntil time.Time // end of the current start burst's probing window

	// Return routability of peers (verify.go), used by Run's goroutine.
	verify      map[int]*verifier // by interface index
	verifyT     *time.Timer       // Run's timer of verification rounds; nil outside Run
	verifyArmed bool

	stats struct {
		queries, answers, dups, known, limSrc, limGlob, conflicts, renames atomic.Uint64
		announces, deferred, reserved, sendFull                            atomic.Uint64
		verifyQueries, verified                                            atomic.Uint64
	}
}

// AnnouncerStats are an Announcer's counters since it was created.
type AnnouncerStats struct {
	// Queries counts the queries received that ask for this instance,
	// every copy included.
	Queries uint64
	// Answers counts the answers sent.
	Answers uint64
	// Announcements counts the unsolicited ANNOUNCE messages sent, one per
	// interface and round (each goes to every destination of the
	// interface: directed broadcast, the IPv4 and the IPv6 group).
	Announcements uint64
	// Duplicates counts the query copies (same message ID, address
	// family and interface) after the first: each adds its bytes to the
	// query's answer budget, and is otherwise ignored once the query was
	// answered.
	Duplicates uint64
	// Deferred counts the shared-query copies left unanswered because
	// the answers of the peers ranked before this server already spend
	// the query's bytes (PROTOCOL.md 6.4, "No amplification"): the
	// browser's next round, listing the servers found, gets the answer.
	Deferred uint64
	// KnownSuppressed counts the queries that listed this instance as
	// known, so got no answer.
	KnownSuppressed uint64
	// LimitedSource counts the answers not sent because of the per-source
	// rate limit (or a full table of sources).
	LimitedSource uint64
	// LimitedGlobal counts the answers not sent because of the global
	// rate limit (and, for full-size queries, its reserve).
	LimitedGlobal uint64
	// Reserved counts the answers sent beyond the global rate limit, from
	// the reserve of full-size queries (at least 1024 bytes, as browsers
	// send; ten times GlobalRate): a flood of small spoofed queries
	// exhausts GlobalRate, not the reserve.
	Reserved uint64
	// SendBufferFull counts the datagrams not sent because the socket's
	// send buffer stayed full (answers to spoofed addresses waiting for
	// neighbour resolution hold it), answers among them that could not
	// go by broadcast instead either (the querier not on the link).
	SendBufferFull uint64
	// Conflicts counts the announcements and answers of this instance
	// name heard from another server.
	Conflicts uint64
	// Renames counts the times a generated instance name was replaced
	// after a conflict heard during the start burst (at most once per
	// start).
	Renames uint64
	// Unauthenticated counts, with keys, datagrams dropped because they
	// failed authentication (no AUTH flag, unknown key, bad tag, clock
	// outside the skew bound).
	Unauthenticated uint64
	// Replays counts, with keys, datagrams refused by the replay window
	// (among them the second copy of a message sent to several
	// destinations).
	Replays uint64
	// VerifyQueries counts the unicast queries sent to peers heard
	// announcing, to verify that they receive at their address before
	// they count in answer budgets (PROTOCOL.md 6.4).
	VerifyQueries uint64
	// PeersVerified counts the peers verified by an answer to one.
	PeersVerified uint64
}

// Stats returns the Announcer's counters. It is safe to call at any time.
func (a *Announcer) Stats() AnnouncerStats {
	s := &a.stats
	st := AnnouncerStats{Queries: s.queries.Load(), Answers: s.answers.Load(), Announcements: s.announces.Load(), Duplicates: s.dups.Load(),
		Deferred: s.deferred.Load(), KnownSuppressed: s.known.Load(), LimitedSource: s.limSrc.Load(), LimitedGlobal: s.limGlob.Load(),
		Reserved: s.reserved.Load(), SendBufferFull: s.sendFull.Load(), Conflicts: s.conflicts.Load(), Renames: s.renames.Load(), VerifyQueries: s.verifyQueries.Load(), PeersVerified: s.verified.Load()}
	st.Unauthenticated, st.Replays = a.gate.Counts()
	return st
}

type queryKey struct {
	id      uint64
	family  int
	ifIndex int
}

// NewAnnouncer validates cfg, selects the interfaces and opens the
// sockets. It fails when cfg is invalid (wire.ErrInvalidName and others) or no
// interface can be used (ErrNoInterface); losing one address family or
// one interface is only logged. Call Run to start announcing, or Close.
func NewAnnouncer(cfg AnnouncerConfig) (*Announcer, error) {
	links, err := selectLinks(cfg.Interfaces)
	if err != nil {
		return nil, err
	}
	return newAnnouncer(cfg, links, sysNetwork{})
}

func newAnnouncer(cfg AnnouncerConfig, links []netif.Interface, nw network) (*Announcer, error) {
	if cfg.Port == 0 {
		return nil, errors.New("discovery: announcer needs the server's port")
	}
	if cfg.Service == "" {
		cfg.Service = DefaultService
	}
	if err := wire.ValidateService(cfg.Service); err != nil {
		return nil, err
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < time.Second || cfg.TTL > MaxTTL {
		return nil, fmt.Errorf("discovery: TTL %v is outside 1s to %v", cfg.TTL, MaxTTL)
	}
	if cfg.MaxAnswerDelay == 0 {
		cfg.MaxAnswerDelay = DefaultMaxAnswerDelay
	}
	if cfg.DiscoveryPort == 0 {
		cfg.DiscoveryPort = wire.DiscoveryPort
	}
	cfg.Attrs = slices.Clone(cfg.Attrs)
	if err := wire.ValidateAttrs(cfg.Attrs); err != nil {
		return nil, err
	}
	cfg.SourceRate = resolveRate(cfg.SourceRate, DefaultSourceRate)
	cfg.GlobalRate = resolveRate(cfg.GlobalRate, DefaultGlobalRate)
	cfg.Bound = slices.Clone(cfg.Bound)
	cfg.Interfaces = slices.Clone(cfg.Interfaces)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	all := links
	links = netif.Restrict(links, cfg.Bound)
	if len(links) == 0 {
		if !slices.ContainsFunc(cfg.Bound, func(a netip.Addr) bool { return !a.IsLoopback() }) {
			return nil, fmt.Errorf("%w: the server is bound to loopback only (%s), so it is not announced", ErrNoInterface, boundString(cfg.Bound))
		}
		names := make([]string, len(all))
		for i, l := range all {
			names[i] = l.Name
		}
		return nil, fmt.Errorf("%w: no selected interface (%v) holds a bound address (%s)", ErrNoInterface, names, boundString(cfg.Bound))
	}
	auto := cfg.Instance == ""
	if auto {
		var as []string
		for _, l := range links {
			for _, a := range announced(&l, netip.Addr{}) {
				as = append(as, a.String())
			}
		}
		cfg.Instance = DefaultInstance(cfg.Port, as)
	}
	if err := wire.ValidateInstance(cfg.Instance); err != nil {
		return nil, err
	}
	a := &Announcer{cfg: cfg, log: log, links: links, ttl: uint32(cfg.TTL / time.Second), auto: auto, closing: make(chan struct{}), wake: make(chan struct{}, 1),
		seen: make(map[queryKey]*queryState), limiter: newAnswerLimiter(cfg.SourceRate, cfg.GlobalRate, maxSources)}
	g, err := auth.NewGate(cfg.Keys, auth.ReplayConfig{NotBefore: time.Now()})
	if err != nil {
		return nil, err
	}
	a.gate = g
	// The largest record must fit a datagram.
	for _, l := range links {
		if n := wire.RecordLen(a.record(&l, netip.Addr{}, a.ttl)); n > wire.DefaultMaxDatagram {
			return nil, fmt.Errorf("discovery: the announcement on %s would be %d bytes, more than %d: use fewer or shorter attributes",
				l.Name, n, wire.DefaultMaxDatagram)
		}
	}
	var errs []error
	for i, fam := range []int{4, 6} {
		if !slices.ContainsFunc(links, func(l netif.Interface) bool { return hasFamily(&l, fam) }) {
			continue
		}
		s, err := nw.listen(fam, cfg.DiscoveryPort, true, links, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("IPv%d discovery port %d: %w", fam, cfg.DiscoveryPort, err))
			log.Warn("discovery: announcer cannot use this address family", "family", fam, "err", err)
			continue
		}
		u, err := nw.listen(fam, 0, false, links, log)
		if err != nil {
			s.close()
			errs = append(errs, fmt.Errorf("IPv%d: %w", fam, err))
			log.Warn("discovery: announcer cannot use this address family", "family", fam, "err", err)
			continue
		}
		a.shared = append(a.shared, s)
		a.uni[i], a.bcast[i] = u, s
	}
	if len(a.shared) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrNoInterface, errors.Join(errs...))
	}
	return a, nil
}

// hasFamily reports whether l has an address discovery uses in family
// fam: an IPv4 address, or an IPv6 link-local one.
func hasFamily(l *netif.Interface, fam int) bool {
	if fam == 4 {
		return len(l.IPv4) > 0
	}
	return l.IPv6LinkLocal.IsValid()
}

// Instance returns the instance name the Announcer announces. A generated
// name changes when another server turns out to use it during the start
// burst.
func (a *Announcer) Instance() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg.Instance
}

// Service returns the service type the Announcer announces.
func (a *Announcer) Service() string { return a.cfg.Service }

// Interfaces returns the names of the interfaces the Announcer serves.
func (a *Announcer) Interfaces() []string {
	return linkNames(a.links)
}

// Close closes the Announcer's sockets without a goodbye (Run sends the
// goodbye when its context ends) and makes Run return. It is safe to call
// more than once.
func (a *Announcer) Close() error {
	a.closeMu.Do(func() {
		close(a.closing)
		var errs []error
		for _, c := range a.shared {
			errs = append(errs, c.close())
		}
		for _, c := range a.uni {
			if c != nil {
				errs = append(errs, c.close())
			}
		}
		a.closeEr = errors.Join(errs...)
	})
	return a.closeEr
}

// inPacket is a datagram as a read loop got it.
type inPacket struct {
	b       []byte
	src     netip.AddrPort
	dst     netip.Addr // the destination address; invalid when unknown
	ifIndex int
	at      time.Time // when the read returned it
}

// pendingAnswer is an answer to send: its unicast to the querier (dst) at
// once, its shared copy when due, after the random delay.
type pendingAnswer struct {
	due     time.Time
	msg     []byte
	dst     netip.AddrPort
	shared  netip.AddrPort // the copy that needs no neighbour resolution; zero if none
	ifIndex int
}

// Run announces until ctx ends, then sends goodbyes, closes the sockets
// and returns nil; after Close it returns nil at once, without goodbyes.
// It returns an error only when called twice.
func (a *Announcer) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("discovery: Announcer.Run called twice")
	}
	a.loop.Lock()
	// Both before the first datagram is handled (by the read goroutines,
	// which may arm the verification timer).
	a.verifyT = time.NewTimer(time.Hour)
	a.verifyT.Stop()
	a.startProbing(time.Now())
	a.loop.Unlock()
	var wg sync.WaitGroup
	conns := slices.Clone(a.shared)
	for _, u := range a.uni {
		if u != nil {
			conns = append(conns, u)
		}
	}
	for _, c := range conns {
		wg.Go(func() { a.serve(c) })
	}
	defer wg.Wait()
	defer a.Close()

	announceT := time.NewTimer(0)
	defer announceT.Stop()
	answerT := time.NewTimer(time.Hour)
	answerT.Stop()
	defer answerT.Stop()
	warmT := time.NewTimer(0)
	defer warmT.Stop()
	defer a.verifyT.Stop()
	n := 0
	for {
		select {
		case <-a.closing: // closed without goodbyes
			return nil
		case <-ctx.Done():
			a.loop.Lock()
			for _, p := range a.pending { // answer what was promised
				a.sendAnswer(p)
			}
			a.pending = nil
			a.sendAll(wire.TypeGoodbye, 0, true)
			a.loop.Unlock()
			time.Sleep(20 * time.Millisecond)
			a.loop.Lock()
			a.sendAll(wire.TypeGoodbye, 0, true)
			a.loop.Unlock()
			return nil
		case <-announceT.C:
			// The start burst goes to every destination; a refresh
			// to one (refreshTarget): watchers repair a lost one.
			a.loop.Lock()
			a.sendAll(wire.TypeAnnounce, a.ttl, n < len(burstOffsets))
			a.loop.Unlock()
			announceT.Reset(announceDelay(n, a.cfg.TTL))
			n++
		case <-warmT.C:
			a.loop.Lock()
			d, more := a.warmUp()
			a.loop.Unlock()
			if more {
				warmT.Reset(d)
			}
		case now := <-a.verifyT.C:
			a.loop.Lock()
			a.verifyRound(now)
			a.loop.Unlock()
		case <-a.wake:
			a.loop.Lock()
			if a.restart { // renamed: start over under the new name
				a.restart = false
				n = 0
				announceT.Reset(0)
				warmT.Reset(0)
			}
			answerT.Stop()
			if len(a.pending) > 0 {
				answerT.Reset(time.Until(a.pending[0].due))
			}
			a.loop.Unlock()
		case now := <-answerT.C:
			a.loop.Lock()
			for len(a.pending) > 0 && !a.pending[0].due.After(now) {
				a.sendAnswer(a.pending[0])
				a.pending = a.pending[1:]
			}
			if len(a.pending) > 0 {
				answerT.Reset(time.Until(a.pending[0].due))
			}
			a.loop.Unlock()
		}
	}
}

// serve reads datagrams from c and handles each in this goroutine
// (handle) until c is closed.
func (a *Announcer) serve(c pconn) {
	readEach(c, a.log, a.handle)
}

// handle processes one datagram under the loop lock: a query's answer to
// the querier goes at once, from here; its shared copy is left to Run's
// timer. p.b is not kept.
func (a *Announcer) handle(p inPacket) {
	a.loop.Lock()
	defer a.loop.Unlock()
	ans, ok, renamed := a.receive(p, p.at)
	switch {
	case renamed: // start over under the new name (Run resets its timers)
		a.pending = a.pending[:0]
		a.startProbing(p.at)
		a.warmRound, a.warmQuiet = 0, 0 // probe the new name
		a.restart = true
		a.poke()
	case ok:
		// The unicast answer goes at once: the instance is this
		// server's alone, and RFC 6762 section 6 delays only shared
		// answers, which many responders may send at once. The shared
		// copy (to the broadcast address or ff02::1, heard by every
		// host) waits its random delay.
		a.sendAnswer(pendingAnswer{msg: ans.msg, dst: ans.dst, ifIndex: ans.ifIndex})
		if ans.shared.IsValid() {
			ans.dst = netip.AddrPort{}
			a.pending = append(a.pending, ans)
			slices.SortFunc(a.pending, func(x, y pendingAnswer) int { return x.due.Compare(y.due) })
			a.poke()
		}
	}
}

// poke wakes Run to look at pending and restart again.
func (a *Announcer) poke() {
	select {
	case a.wake <- struct{}{}:
	default: // a wake-up is already due
	}
}

// readLoop reads datagrams from c into in until c is closed, each a copy;
// when the main loop is overwhelmed (in is full) a datagram is dropped.
func readLoop(c pconn, in chan<- inPacket, log *slog.Logger) {
	readEach(c, log, func(p inPacket) {
		p.b = slices.Clone(p.b)
		select {
		case in <- p:
		default: // the main loop is overwhelmed: drop
		}
	})
}

// readEach reads datagrams from c and gives each udpkit message to f (its
// bytes valid only during the call) until c is closed. Other read errors
// are logged within a budget and backed off (internal/readloop); a socket
// that is not closed ends with the loop's owner, which closes it.
func readEach(c pconn, log *slog.Logger, f func(inPacket)) {
	buf := make([]byte, 2048)
	var fails readloop.Failures
	for {
		n, src, dst, idx, err := c.readFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			fails.Failed(nil, log, "discovery: read failed", err)
			continue
		}
		fails.Succeeded()
		if !wire.IsMessage(buf[:n]) {
			continue
		}
		f(inPacket{b: buf[:n], src: src, dst: dst, ifIndex: idx, at: time.Now()})
	}
}

// receive handles one datagram: parsed once, dispatched by type. A QUERY
// may need an answer (returned, with ok); an ANNOUNCE or ANSWER may show a
// name conflict (renamed: the Announcer took a new name).
func (a *Announcer) receive(p inPacket, now time.Time) (ans pendingAnswer, ok, renamed bool) {
	h, body, ok := a.gate.Open(p.b)
	if !ok {
		return pendingAnswer{}, false, false
	}
	switch h.Type {
	case wire.TypeQuery:
		ans, ok = a.answer(p, h, body, now)
		return ans, ok, false
	case wire.TypeAnnounce, wire.TypeAnswer, wire.TypeGoodbye:
		if h.Type == wire.TypeAnswer && a.verifyAnswer(p, h, body, now) {
			return pendingAnswer{}, false, false // a peer proved its address (verify.go)
		}
		if h.Type == wire.TypeAnswer && !a.isOwn(h.ID) || h.Type != wire.TypeAnswer && a.isOwn(h.ID) {
			return pendingAnswer{}, false, false // not an answer to our probe, or our own message
		}
		rec, err := wire.ParseRecord(body)
		if err != nil {
			return pendingAnswer{}, false, false
		}
		known := a.peerCount()
		a.learn(p, h.ID, rec, now) // the peers that share answer budgets (budget.go)
		if h.Type == wire.TypeAnswer && a.peerCount() > known {
			a.warmFound++ // a round of the start's peer discovery found one
		}
		if h.Type == wire.TypeGoodbye {
			return pendingAnswer{}, false, false
		}
		return pendingAnswer{}, false, a.conflict(p, h, rec, now)
	}
	return pendingAnswer{}, false, false
}

// answer decides whether datagram p, a QUERY with header h and body, is
// to be answered and builds the answer (PROTOCOL.md section 6.4). Every
// copy of a query (message ID, address family, interface) adds its bytes
// to the query's budget; a copy that arrives while the answer is still
// left out (the budget was spent by servers ranked before this one) is
// considered again with the larger budget.
func (a *Announcer) answer(p inPacket, h wire.Header, body []byte, now time.Time) (pendingAnswer, bool) {
	l := netif.ByIndex(a.links, p.ifIndex)
	if l == nil {
		return pendingAnswer{}, false // arrived on an interface we do not serve
	}
	q, err := wire.ParseQuery(body)
	if err != nil {
		a.log.Debug("discovery: malformed query", "from", p.src, "err", err)
		return pendingAnswer{}, false
	}
	if q.Service != "" && !wire.EqualFold(q.Service, a.cfg.Service) || q.Instance != "" && !wire.EqualFold(q.Instance, a.cfg.Instance) {
		return pendingAnswer{}, false
	}
	if a.isOwn(h.ID) {
		return pendingAnswer{}, false // our own probe, looped back
	}
	a.stats.queries.Add(1)
	fam := 6
	if p.src.Addr().Is4() {
		fam = 4
	}
	if a.uni[fam/6] == nil { // unreachable: a query of a family we have no socket for
		return pendingAnswer{}, false
	}
	key := queryKey{h.ID, fam, p.ifIndex}
	a.mu.Lock()
	st := a.seen[key]
	if st == nil {
		if len(a.seen) >= 4096 {
			for k, v := range a.seen {
				if now.Sub(v.at) > 10*time.Second {
					delete(a.seen, k)
				}
			}
			if len(a.seen) >= 4096 {
				clear(a.seen)
			}
		}
		st = &queryState{at: now}
		a.seen[key] = st
	}
	first := st.budget == 0
	st.budget += len(p.b)
	budget, done := st.budget, st.done
	a.mu.Unlock()
	if !first {
		a.stats.dups.Add(1)
	}
	if done {
		return pendingAnswer{}, false
	}
	markDone := func() {
		a.mu.Lock()
		st.done = true
		a.mu.Unlock()
	}
	if slices.Contains(q.Known, a.ownHash()) {
		a.stats.known.Add(1)
		markDone()
		return pendingAnswer{}, false
	}
	rec, ok := wire.FitRecord(a.record(l, p.src.Addr(), a.ttl), len(p.b)-a.gate.Overhead())
	if !ok {
		a.log.Debug("discovery: query too small for an answer", "from", p.src, "size", len(p.b))
		return pendingAnswer{}, false
	}
	msg, err := wire.AppendRecord(nil, wire.TypeAnswer, h.ID, rec)
	if err == nil && h.Flags&wire.FlagAuth != 0 {
		msg, err = a.gate.Seal(msg, int(h.KeyID))
	}
	if err != nil {
		return pendingAnswer{}, false
	}
	ans := pendingAnswer{due: now.Add(answerDelay(a.cfg.MaxAnswerDelay)), msg: msg, dst: p.src, ifIndex: p.ifIndex}
	// The shared copy only for a querier that asked again: a first round
	// is answered by unicast alone (RFC 6762 section 5.4's QU question).
	if q.Again {
		ans.shared = sharedDst(l, p.src)
	}
	if sharedQuery(p, l) {
		// Every server on the link got it: the answers ranked before
		// ours and ours must fit in the query's bytes together. Every
		// server counts two copies per answer for a repeated query.
		copies := 1
		if q.Again {
			copies = 2
		}
		// Until its peer discovery is over (warmUp) the server may not
		// know the peers ranked before it: it leaves shared queries to
		// them, and a browser's next round finds it.
		if !a.warm || a.ahead(p.ifIndex, h.ID, fam, q, copies, now)+copies*len(msg) > budget {
			a.stats.deferred.Add(1)
			return pendingAnswer{}, false
		}
	} else if 2*len(msg) > budget {
		ans.shared = netip.AddrPort{} // both copies must fit in the query
	}
	if a.limiter != nil {
		switch a.limiter.allow(p.src, len(p.b), now) {
		case reserved:
			a.stats.reserved.Add(1)
		case limitedSource:
			a.stats.limSrc.Add(1)
			markDone()
			return pendingAnswer{}, false
		case limitedGlobal:
			a.stats.limGlob.Add(1)
			markDone()
			return pendingAnswer{}, false
		}
	}
	markDone()
	return ans, true
}

// queryState is what an Announcer remembers of one query (message ID,
// address family, interface): when it first came, the bytes of all its
// copies so far (its answer budget), and whether it was dealt with.
type queryState struct {
	at     time.Time
	budget int
	done   bool
}

// sharedDst returns where the second copy of an answer to src goes: the
// directed broadcast address of src's subnet (IPv4, src inside it) or the
// all-nodes group ff02::1 (IPv6, src link-local), at src's port; zero when
// src is not surely on the link. A unicast answer waits in the kernel until
// ARP or neighbour discovery has resolved src, and when that exchange is
// lost Linux asks again only a second later; the shared copy needs no
// resolution, so one lost ARP frame does not cost the browser a second
// (PROTOCOL.md section 6.5). Other hosts drop it: nothing listens on the
// browser's ephemeral port.
func sharedDst(l *netif.Interface, src netip.AddrPort) netip.AddrPort {
	a := src.Addr()
	if a.Is4() {
		for _, v := range l.IPv4 {
			if l.CanBroadcast() && v.Broadcast.IsValid() && v.Addr.Contains(a) {
				return netip.AddrPortFrom(v.Broadcast, src.Port())
			}
		}
		return netip.AddrPort{}
	}
	// Only a link-local querier is surely on this link; a routed address
	// must not be able to make the server multicast to the whole link.
	if l.CanMulticast() && l.IPv6LinkLocal.IsValid() && a.IsLinkLocalUnicast() {
		return netip.AddrPortFrom(allNodes.WithZone(l.Name), src.Port())
	}
	return netip.AddrPort{}
}

// allNodes is the IPv6 link-local all-nodes group (RFC 4291).
var allNodes = netip.MustParseAddr("ff02::1")

// record returns the Announcer's record for link l.
func (a *Announcer) record(l *netif.Interface, near netip.Addr, ttl uint32) wire.Record {
	return wire.Record{TTL: ttl, Port: a.cfg.Port, Service: a.cfg.Service, Instance: a.cfg.Instance,
		Addrs: announced(l, near), Attrs: a.cfg.Attrs}
}

// send writes msg to dst from the socket of dst's family. A datagram
// dropped because the socket's send buffer stayed full (sock.go,
// sendWait) is counted (SendBufferFull), and answers from that socket
// pause for fullPause (sendAnswer).
func (a *Announcer) send(msg []byte, dst netip.AddrPort, ifIndex int) {
	if !a.trySend(msg, dst, ifIndex) {
		a.stats.sendFull.Add(1)
	}
}

// trySend is send without counting a dropped datagram.
func (a *Announcer) trySend(msg []byte, dst netip.AddrPort, ifIndex int) bool {
	fi := famIndex(dst.Addr())
	u := a.uni[fi]
	if u == nil {
		return true
	}
	if err := u.writeTo(msg, dst, ifIndex); err != nil {
		a.log.Debug("discovery: send failed", "to", dst, "err", err)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			a.full[fi].Store(time.Now().Add(fullPause).UnixNano())
			return false
		}
	}
	return true
}

// fullPause is how long answers from a socket are not even tried after
// one found its send buffer full: each try may wait sendWait, and under a
// flood of queries from spoofed addresses (whose answers hold the buffer
// while neighbour resolution fails) the loop must keep reading.
// Announcements and verification queries are still tried.
const fullPause = 20 * time.Millisecond

// sendAll sends an ANNOUNCE or GOODBYE on every link: with all, to each
// directed broadcast address, the IPv4 group and the IPv6 group; else to
// the link's refreshTarget only.
func (a *Announcer) sendAll(t wire.Type, ttl uint32, all bool) {
	for i := range a.links {
		l := &a.links[i]
		msg, err := wire.AppendRecord(nil, t, a.newID(), a.record(l, netip.Addr{}, ttl))
		if err == nil && t == wire.TypeAnnounce && all {
			msg = a.padAnnounce(msg) // pays for the peers' verification queries (verify.go)
		}
		if err == nil {
			msg, err = a.gate.Seal(msg, -1)
		}
		if err != nil {
			continue
		}
		if t == wire.TypeAnnounce {
			a.stats.announces.Add(1)
		}
		if !all {
			if dst, ok := refreshTarget(l, a.cfg.DiscoveryPort); ok {
				a.send(msg, dst, l.Index)
			}
			continue
		}
		forEachTarget(l, a.cfg.DiscoveryPort, func(dst netip.AddrPort) { a.send(msg, dst, l.Index) })
	}
}

// refreshTarget is the one destination of a re-announcement on link l:
// the first of forEachTarget's (the directed broadcast address, which
// every IPv4 listener hears whether or not it joined the group; else the
// IPv4 group; else the IPv6 group). Every watcher listens on both
// families, so one copy reaches it; the start burst and goodbyes still go
// to every destination.
func refreshTarget(l *netif.Interface, port int) (netip.AddrPort, bool) {
	var first netip.AddrPort
	forEachTarget(l, port, func(dst netip.AddrPort) {
		if !first.IsValid() {
			first = dst
		}
	})
	return first, first.IsValid()
}

// sendAnswer sends an answer to its querier (dst, counted in Answers)
// and its shared copy, each when set.
//
// When the unicast socket's send buffer is full (send), the answer goes
// to the querier's port at its link's broadcast address (IPv4) or ff02::1
// (IPv6) instead, from the discovery-port socket, whose buffer only such
// answers use: a broadcast waits for no neighbour resolution, so it never
// holds the buffer. The buffer fills when a flood of queries spoofed from
// on-link addresses nobody holds is answered (each answer waits about 3 s
// in the kernel for ARP to fail); without the fallback a browser's answers
// are then lost with them (e2e/TestSpoofedQueriesForger, "many
// addresses"). One datagram still goes out per answer.
func (a *Announcer) sendAnswer(p pendingAnswer) {
	if p.dst.IsValid() {
		fi := famIndex(p.dst.Addr())
		switch {
		case !a.paused(fi) && a.trySend(p.msg, p.dst, p.ifIndex):
			a.stats.answers.Add(1)
		case a.sendBroadcast(p):
			a.stats.answers.Add(1)
			return // the shared copy went the same way
		default:
			a.stats.sendFull.Add(1)
		}
	}
	if p.shared.IsValid() && !a.paused(famIndex(p.shared.Addr())) {
		a.send(p.msg, p.shared, p.ifIndex)
	}
}

// paused reports whether answers from the unicast socket of family fi
// wait out fullPause.
func (a *Announcer) paused(fi int) bool { return time.Now().UnixNano() < a.full[fi].Load() }

// sendBroadcast sends the answer p to its querier's port at the link's
// broadcast address or ff02::1 (sharedDst) from the discovery-port socket
// of its family, and reports whether it went.
func (a *Announcer) sendBroadcast(p pendingAnswer) bool {
	l := netif.ByIndex(a.links, p.ifIndex)
	c := a.bcast[famIndex(p.dst.Addr())]
	if l == nil || c == nil {
		return false
	}
	dst := sharedDst(l, p.dst)
	if !dst.IsValid() {
		return false
	}
	if err := c.writeTo(p.msg, dst, p.ifIndex); err != nil {
		a.log.Debug("discovery: send failed", "to", dst, "err", err)
		return false
	}
	return true
}

// forEachTarget calls f with every destination discovery traffic goes to
// on link l: each directed broadcast address, the IPv4 group and the IPv6
// group (with the link's zone).
func forEachTarget(l *netif.Interface, port int, f func(netip.AddrPort)) {
	p := uint16(port)
	if l.CanBroadcast() {
		var done []netip.Addr
		for _, v := range l.IPv4 {
			if v.Broadcast.IsValid() && !slices.Contains(done, v.Broadcast) {
				done = append(done, v.Broadcast)
				f(netip.AddrPortFrom(v.Broadcast, p))
			}
		}
	}
	if l.CanMulticast() && len(l.IPv4) > 0 {
		f(netip.AddrPortFrom(wire.DiscoveryGroup4, p))
	}
	if l.CanMulticast() && l.IPv6LinkLocal.IsValid() {
		f(netip.AddrPortFrom(wire.DiscoveryGroup6.WithZone(l.Name), p))
	}
}
