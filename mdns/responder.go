package mdns

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/udpkit/udpkit/internal/readloop"
	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// Timing of RFC 6762.
const (
	probeInterval     = 250 * time.Millisecond // section 8.1
	probeCount        = 3
	lostTieWait       = time.Second // section 8.2
	announceCount     = 3           // section 8.3: at least two, one second apart
	announceInterval  = time.Second
	sharedDelayMin    = 20 * time.Millisecond // section 6
	sharedDelayMax    = 120 * time.Millisecond
	truncatedDelayMin = 400 * time.Millisecond // section 7.2
	truncatedDelayMax = 500 * time.Millisecond
	recordRateLimit   = time.Second            // section 6: once a second per record and interface
	probeDefenseLimit = 250 * time.Millisecond // section 6: defending against a probe
	maxMessage        = 9000                   // section 17, the largest we read
	maxSend           = 1400                   // stay under a 1500-byte MTU
)

// ResponderConfig configures a Responder.
type ResponderConfig struct {
	// Service is the DNS-SD service type, such as "_udpkit._udp" (the
	// default when empty).
	Service string
	// Instance is the instance name, one label of up to 63 bytes of UTF-8.
	Instance string
	// Host is the host label published in SRV and A/AAAA records ("HOST"
	// of HOST.local). Empty means DefaultHost.
	Host string
	// Port is the service's port.
	Port uint16
	// Text holds the TXT strings, "key=value" or "key".
	Text []string
	// Interfaces are netif specs (names, CIDRs, templates); empty means
	// netif's default selection.
	Interfaces []string
	// Bound lists the addresses the service is bound to: only the
	// interfaces holding one are served, with those addresses only. Empty
	// or a wildcard means every selected interface with all its addresses.
	Bound []netip.Addr
	// Logger receives renames and problems; nil means none.
	Logger *slog.Logger
}

// Responder publishes one DNS-SD service instance over mDNS on every
// selected interface and answers queries for it, following RFC 6762:
// probing and conflict resolution, announcements, delayed answers for
// shared records, known-answer suppression, per-record rate limits,
// legacy unicast answers and goodbyes. Create it with NewResponder; Run
// serves until its context ends.
type Responder struct {
	links  []netif.Interface
	log    *slog.Logger
	c4, c6 conn
	pkts   chan packet

	mu  sync.Mutex
	svc service

	closeOnce sync.Once
	running   atomic.Bool

	// Counters, for tests and logs.
	malformed, offLink atomic.Uint64

	// Loop state, owned by Run's goroutine.
	phase     int
	sent      int // probes or announcements sent in this phase
	due       time.Time
	lastSent  map[string]time.Time
	pending   []*reply
	conflicts []time.Time
	announced bool // records were multicast: goodbyes are due at the end
	published atomic.Bool
}

const (
	phaseProbe = iota
	phaseAnnounce
	phaseSteady
)

// packet is one datagram read by a socket reader.
type packet struct {
	data   []byte
	info   rxInfo
	family int
	c      conn
}

// reply is a multicast response waiting for its delay.
type reply struct {
	due     time.Time
	l       *netif.Interface
	family  int
	answers []dns.RR
	limit   time.Duration
}

// DefaultHost returns the host label a Responder uses when none is
// configured: the first label of the machine's host name (letters, digits
// and hyphens kept) and six hex digits derived from the published
// addresses. Every process of one machine publishing the same addresses
// gets the same name and publishes identical A/AAAA records, which is no
// conflict (RFC 6762 section 9); hosts sharing a host name (containers,
// network namespaces, cloned machines) have other addresses and need not
// rename; the name is stable across restarts.
func DefaultHost(addrs []string) string {
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	var b strings.Builder
	for i := 0; i < len(host) && b.Len() < 50; i++ {
		if c := host[i]; c == '-' || isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'z' {
			b.WriteByte(c)
		}
	}
	label := strings.Trim(b.String(), "-")
	if label == "" {
		label = "udpkit"
	}
	h := fnv.New64a()
	for _, a := range addrs {
		io.WriteString(h, "\x00"+a)
	}
	return fmt.Sprintf("%s-%06x", label, h.Sum64()&0xffffff)
}

// DefaultResponderConfig returns the defaults of a ResponderConfig spelled
// out (udpkit's convention: NewResponder(DefaultResponderConfig() plus the
// instance and port) and the same with a zero Service behave the same).
// Host stays empty: DefaultHost derives it from the machine's host name
// and the addresses.
func DefaultResponderConfig() ResponderConfig {
	return ResponderConfig{Service: wire.ServiceServer}
}

func (cfg ResponderConfig) withDefaults() ResponderConfig {
	if cfg.Service == "" {
		cfg.Service = DefaultResponderConfig().Service
	}
	return cfg
}

// NewResponder checks cfg, selects the interfaces and opens the mDNS
// sockets (UDP 5353, shared with other responders such as Avahi).
func NewResponder(cfg ResponderConfig) (*Responder, error) {
	cfg = cfg.withDefaults()
	if err := wire.ValidateService(cfg.Service); err != nil {
		return nil, err
	}
	if err := wire.ValidateInstance(cfg.Instance); err != nil {
		return nil, err
	}
	for _, t := range cfg.Text {
		if err := wire.ValidateAttr(t); err != nil {
			return nil, err
		}
	}
	if cfg.Port == 0 {
		return nil, errors.New("mdns: port 0")
	}
	links, err := selectLinks(cfg.Interfaces)
	if err != nil {
		return nil, err
	}
	links = netif.Restrict(links, cfg.Bound)
	if len(links) == 0 {
		return nil, fmt.Errorf("%w: no selected interface holds a bound address", ErrNoInterface)
	}
	if cfg.Host == "" {
		var as []string
		for _, l := range links {
			for _, a := range linkAddrs(&l) {
				as = append(as, a.String())
			}
		}
		cfg.Host = DefaultHost(as)
	}
	if err := validHost(cfg.Host); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &Responder{links: links, log: log, pkts: make(chan packet, 256), lastSent: map[string]time.Time{},
		svc: service{instance: cfg.Instance, service: cfg.Service, host: cfg.Host, port: cfg.Port, txt: cfg.Text}}
	r.c4, r.c6, err = openShared(links, log)
	if err != nil {
		return nil, err
	}
	r.startReaders()
	return r, nil
}

// validHost checks a host label: letters, digits and hyphens (RFC 1123),
// 1 to 63 bytes.
func validHost(h string) error {
	if h == "" || len(h) > 63 {
		return fmt.Errorf("%w: host label %q must be 1 to 63 bytes", wire.ErrInvalidName, h)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c == '-' || isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'z') {
			return fmt.Errorf("%w: host label %q may hold letters, digits and hyphens only", wire.ErrInvalidName, h)
		}
	}
	return nil
}

// openShared opens the port-5353 sockets of the families the links have.
// One family failing is fine; both failing is an error.
func openShared(links []netif.Interface, log *slog.Logger) (c4, c6 conn, err error) {
	var errs []error
	has4, has6 := false, false
	for _, l := range links {
		has4 = has4 || len(l.IPv4) > 0
		has6 = has6 || l.IPv6LinkLocal.IsValid()
	}
	if has4 {
		if c4, err = listen(4, true, links, log); err != nil {
			errs = append(errs, err)
		}
	}
	if has6 {
		if c6, err = listen(6, true, links, log); err != nil {
			errs = append(errs, err)
		}
	}
	if c4 == nil && c6 == nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNoInterface, errors.Join(errs...))
	}
	for _, e := range errs {
		log.Warn("mdns: one address family unavailable", "err", e)
	}
	return c4, c6, nil
}

func (r *Responder) startReaders() {
	for fam, c := range map[int]conn{4: r.c4, 6: r.c6} {
		if c != nil {
			go readLoop(c, fam, r.pkts, r.log)
		}
	}
}

// readLoop reads datagrams into ch until c is closed; other read errors
// are logged within a budget and backed off (internal/readloop). A full
// channel drops the datagram (as a full socket buffer would).
func readLoop(c conn, family int, ch chan<- packet, log *slog.Logger) {
	buf := make([]byte, maxMessage)
	var fails readloop.Failures
	for {
		n, ri, err := c.read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			fails.Failed(nil, log, "mdns: read failed", err)
			continue
		}
		fails.Succeeded()
		select {
		case ch <- packet{data: append([]byte(nil), buf[:n]...), info: ri, family: family, c: c}:
		default:
		}
	}
}

// Instance returns the instance name currently published (it changes when
// a conflict is resolved).
func (r *Responder) Instance() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.svc.instance
}

// Host returns the host label currently published.
func (r *Responder) Host() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.svc.host
}

// announcedOnce reports whether the first announcement went out.
func (r *Responder) announcedOnce() bool { return r.published.Load() }

// Interfaces returns the names of the interfaces served.
func (r *Responder) Interfaces() []string {
	out := make([]string, len(r.links))
	for i, l := range r.links {
		out[i] = l.Name
	}
	return out
}

// Close closes the sockets without goodbyes; Run closes them itself.
func (r *Responder) Close() error {
	r.closeOnce.Do(func() {
		if r.c4 != nil {
			r.c4.close()
		}
		if r.c6 != nil {
			r.c6.close()
		}
	})
	return nil
}

// Run probes for the names, announces the instance and answers queries
// until ctx ends; then it sends goodbyes (TTL 0) on every interface and
// closes the sockets. It returns nil after a normal stop.
func (r *Responder) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("mdns: Responder.Run called twice")
	}
	defer r.Close()
	now := time.Now()
	r.startProbing(now, jitter(0, probeInterval))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(time.Until(r.nextWake()))
		select {
		case <-ctx.Done():
			if r.announced {
				r.goodbye()
			}
			return nil
		case p := <-r.pkts:
			r.handle(p, time.Now())
		case <-timer.C:
			r.tick(time.Now())
		}
	}
}

func jitter(min, max time.Duration) time.Duration {
	return min + rand.N(max-min+1)
}

func (r *Responder) nextWake() time.Time {
	w := time.Now().Add(time.Hour)
	if !r.due.IsZero() && r.due.Before(w) {
		w = r.due
	}
	for _, p := range r.pending {
		if p.due.Before(w) {
			w = p.due
		}
	}
	return w
}

func (r *Responder) startProbing(now time.Time, delay time.Duration) {
	r.phase, r.sent, r.due, r.pending = phaseProbe, 0, now.Add(delay), nil
}

// tick runs what is due: the next probe or announcement, delayed replies.
func (r *Responder) tick(now time.Time) {
	if !r.due.IsZero() && !now.Before(r.due) {
		switch r.phase {
		case phaseProbe:
			if r.sent < probeCount {
				r.sendProbes()
				r.sent++
				r.due = now.Add(probeInterval)
			} else {
				r.phase, r.sent, r.due = phaseAnnounce, 0, now
				r.log.Info("mdns: names are ours", "instance", r.Instance(), "host", r.Host())
				r.tick(now)
				return
			}
		case phaseAnnounce:
			r.announce(now)
			r.sent++
			if r.sent < announceCount {
				r.due = now.Add(announceInterval << (r.sent - 1))
			} else {
				r.phase, r.due = phaseSteady, time.Time{}
			}
		}
	}
	keep := r.pending[:0]
	for _, p := range r.pending {
		if now.Before(p.due) {
			keep = append(keep, p)
			continue
		}
		r.multicast(p.l, p.family, p.answers, p.limit, now)
	}
	r.pending = keep
}

// each calls fn for every link and family with an open socket.
func (r *Responder) each(fn func(l *netif.Interface, family int, c conn)) {
	for i := range r.links {
		l := &r.links[i]
		if r.c4 != nil && len(l.IPv4) > 0 {
			fn(l, 4, r.c4)
		}
		if r.c6 != nil && l.IPv6LinkLocal.IsValid() {
			fn(l, 6, r.c6)
		}
	}
}

func group(family int) netip.AddrPort {
	if family == 4 {
		return netip.AddrPortFrom(Group4, Port)
	}
	return netip.AddrPortFrom(Group6, Port)
}

func (r *Responder) snapshot() service {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.svc
	return s
}

// proposed returns the unique records probed for on l, by name.
func proposed(s *service, l *netif.Interface) (inst, host []dns.RR) {
	for _, rr := range s.records(l, false) {
		switch rr.Header().Rrtype {
		case dns.TypeSRV, dns.TypeTXT:
			inst = append(inst, rr)
		case dns.TypeA, dns.TypeAAAA:
			host = append(host, rr)
		}
	}
	return inst, host
}

// sendProbes sends one probe on every link.
func (r *Responder) sendProbes() {
	s := r.snapshot()
	r.each(func(l *netif.Interface, family int, c conn) {
		r.send(c, probe(&s, l), group(family), l.Index)
	})
}

// probe is the probe for s on l (RFC 6762 section 8.1): ANY questions
// for the instance and host names with the QU bit set (a defender may
// answer by unicast), the proposed records in the authority section.
func probe(s *service, l *netif.Interface) *dns.Msg {
	inst, host := proposed(s, l)
	m := new(dns.Msg)
	m.Question = []dns.Question{
		{Name: instanceName(s.instance, s.service), Qtype: dns.TypeANY, Qclass: dns.ClassINET | unicastResponse},
		{Name: hostName(s.host), Qtype: dns.TypeANY, Qclass: dns.ClassINET | unicastResponse},
	}
	m.Ns = append(inst, host...)
	return m
}

// announce multicasts every record on every link (section 8.3), and marks
// them sent for the rate limit.
func (r *Responder) announce(now time.Time) {
	s := r.snapshot()
	r.announced = true
	r.published.Store(true)
	r.each(func(l *netif.Interface, family int, c conn) {
		rrs := s.records(l, false)
		r.sendResponse(c, group(family), l.Index, rrs, nil, true)
		for _, rr := range rrs {
			r.lastSent[rateKey(l, family, rr)] = now
		}
	})
}

// goodbye multicasts the instance's records with TTL 0 (section 10.1),
// at once. The host's A/AAAA records are left to expire: the host name
// is the machine's, shared by every udpserver on it with the same
// addresses (DefaultHost), and a goodbye would remove them from caches
// under the instances still running.
func (r *Responder) goodbye() {
	s := r.snapshot()
	r.each(func(l *netif.Interface, family int, c conn) {
		r.sendResponse(c, group(family), l.Index, goodbyes(&s, l), nil, true)
	})
}

// goodbyes are the records of goodbye: PTR, SRV and TXT with TTL 0.
func goodbyes(s *service, l *netif.Interface) []dns.RR {
	var out []dns.RR
	for _, rr := range s.records(l, true) {
		if t := rr.Header().Rrtype; t != dns.TypeA && t != dns.TypeAAAA {
			out = append(out, rr)
		}
	}
	return out
}

// sendResponse sends a multicast-style response: no question, the
// cache-flush bit on unique records when flush is set.
func (r *Responder) sendResponse(c conn, dst netip.AddrPort, ifIndex int, answers, extra []dns.RR, flush bool) {
	m := new(dns.Msg)
	m.Response, m.Authoritative = true, true
	m.Answer = withFlush(answers, flush)
	m.Extra = withFlush(extra, flush)
	r.send(c, m, dst, ifIndex)
}

func withFlush(rrs []dns.RR, flush bool) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		cp := dns.Copy(rr)
		if flush && unique(rr) {
			cp.Header().Class |= cacheFlush
		}
		out[i] = cp
	}
	return out
}

// send packs m and sends it; additional records that do not fit are left
// out, answers never.
func (r *Responder) send(c conn, m *dns.Msg, dst netip.AddrPort, ifIndex int) {
	m.Compress = true
	for len(m.Extra) > 0 && m.Len() > maxSend {
		m.Extra = m.Extra[:len(m.Extra)-1]
	}
	b, err := m.Pack()
	if err != nil {
		r.log.Warn("mdns: packing a message", "err", err)
		return
	}
	if err := c.write(b, dst, ifIndex); err != nil {
		r.log.Debug("mdns: send failed", "dst", dst, "err", err)
	}
}

func rateKey(l *netif.Interface, family int, rr dns.RR) string {
	h := rr.Header()
	return fmt.Sprintf("%d/%d/%s/%d/%x", l.Index, family, wire.FoldCase(h.Name), h.Rrtype, rdata(rr))
}

// handle processes one datagram.
func (r *Responder) handle(p packet, now time.Time) {
	l := netif.ByIndex(r.links, p.info.ifIndex)
	if l == nil {
		return // not an interface we serve
	}
	if !onLink(l, p.info.src.Addr(), p.info.ttl) {
		r.offLink.Add(1)
		return
	}
	m := new(dns.Msg)
	if err := m.Unpack(p.data); err != nil {
		r.malformed.Add(1)
		return
	}
	if m.Opcode != dns.OpcodeQuery || m.Rcode != dns.RcodeSuccess {
		return
	}
	if m.Response {
		r.checkConflict(m, now)
		return
	}
	if len(m.Ns) > 0 && r.phase == phaseProbe {
		r.tieBreak(l, m, now)
	}
	if r.phase == phaseProbe {
		return // the names are not ours yet
	}
	r.answer(l, p, m, now)
}

// ours reports which of our names, if any, name is.
func (s *service) owns(name string) (inst, host bool) {
	return sameName(name, instanceName(s.instance, s.service)), sameName(name, hostName(s.host))
}

// checkConflict looks for records of another host under our unique names
// (section 9): before the names are ours it renames and probes again,
// afterwards it probes again (the owner then defends, or we win).
func (r *Responder) checkConflict(m *dns.Msg, now time.Time) {
	s := r.snapshot()
	var mine []dns.RR
	for i := range r.links {
		mine = append(mine, s.records(&r.links[i], false)...)
	}
	instHit, hostHit := false, false
	for _, rr := range append(append([]dns.RR(nil), m.Answer...), m.Extra...) {
		h := rr.Header()
		if h.Class&^cacheFlush != dns.ClassINET || h.Ttl == 0 || !unique(rr) {
			continue
		}
		inst, host := s.owns(h.Name)
		if !inst && !host {
			continue
		}
		if inst && h.Rrtype != dns.TypeSRV && h.Rrtype != dns.TypeTXT {
			continue
		}
		if host && h.Rrtype != dns.TypeA && h.Rrtype != dns.TypeAAAA {
			continue
		}
		same := false
		for _, o := range mine {
			if sameRecord(o, rr) {
				same = true
				break
			}
		}
		if !same {
			instHit = instHit || inst
			hostHit = hostHit || host
		}
	}
	if !instHit && !hostHit {
		return
	}
	if r.phase != phaseProbe {
		r.log.Info("mdns: another host claims our name; probing again", "instance", s.instance, "host", s.host)
		r.startProbing(now, 0)
		return
	}
	r.rename(instHit, hostHit, now)
}

// rename picks the next names after a conflict and starts probing again;
// after 15 conflicts in 10 s it waits 5 s first (section 8.1).
func (r *Responder) rename(inst, host bool, now time.Time) {
	r.mu.Lock()
	old := r.svc
	if inst {
		r.svc.instance = renamed(r.svc.instance, false)
	}
	if host {
		r.svc.host = renamed(r.svc.host, true)
	}
	s := r.svc
	r.mu.Unlock()
	r.log.Info("mdns: name conflict; renamed", "instance", s.instance, "was", old.instance, "host", s.host, "was_host", old.host)
	keep := r.conflicts[:0]
	for _, t := range r.conflicts {
		if now.Sub(t) < 10*time.Second {
			keep = append(keep, t)
		}
	}
	r.conflicts = append(keep, now)
	delay := time.Duration(0)
	if len(r.conflicts) >= 15 {
		delay = 5 * time.Second
	}
	r.startProbing(now, delay)
}

// tieBreak handles another host's probe for one of our names while we
// probe (section 8.2): the lexicographically later set of records wins;
// the loser waits a second and probes again.
func (r *Responder) tieBreak(l *netif.Interface, m *dns.Msg, now time.Time) {
	s := r.snapshot()
	inst, host := proposed(&s, l)
	var theirsInst, theirsHost []dns.RR
	for _, rr := range m.Ns {
		i, h := s.owns(rr.Header().Name)
		if i {
			theirsInst = append(theirsInst, rr)
		}
		if h {
			theirsHost = append(theirsHost, rr)
		}
	}
	lost := (len(theirsInst) > 0 && compareProbes(inst, theirsInst) < 0) ||
		(len(theirsHost) > 0 && compareProbes(host, theirsHost) < 0)
	if lost {
		r.log.Debug("mdns: lost a probe tie-break; probing again in a second", "instance", s.instance)
		r.startProbing(now, lostTieWait)
	}
}

// answer answers a query on link l.
func (r *Responder) answer(l *netif.Interface, p packet, m *dns.Msg, now time.Time) {
	s := r.snapshot()
	all := s.records(l, false)
	var answers []dns.RR
	sharedAnswer, wantUnicast := false, true
	for _, q := range m.Question {
		if q.Qclass&^unicastResponse != dns.ClassINET && q.Qclass&^unicastResponse != dns.ClassANY {
			continue
		}
		if q.Qclass&unicastResponse == 0 {
			wantUnicast = false
		}
		for _, rr := range all {
			h := rr.Header()
			if (q.Qtype == dns.TypeANY || q.Qtype == h.Rrtype) && sameName(q.Name, h.Name) && !contains(answers, rr) {
				answers = append(answers, rr)
				sharedAnswer = sharedAnswer || !unique(rr)
			}
		}
	}
	// Known-answer suppression (section 7.1): the querier already has
	// the record with at least half its TTL left.
	answers = suppress(answers, m.Answer)
	if len(answers) == 0 {
		return
	}
	extra := suppress(additional(answers, all), m.Answer)
	legacy := p.info.src.Port() != Port
	if legacy {
		// Section 6.7: straight back to the querier's port, question and
		// ID echoed, TTLs of at most 10 s, no cache-flush bits.
		rep := new(dns.Msg)
		rep.SetReply(m)
		rep.Authoritative = true
		rep.Answer = capTTL(answers)
		rep.Extra = capTTL(extra)
		r.send(p.c, rep, p.info.src, l.Index)
		return
	}
	if wantUnicast && len(m.Ns) == 0 && r.multicastRecently(l, p.family, answers, now) {
		// QU questions (section 5.4): a unicast answer to the querier,
		// unless a record was not multicast within a quarter of its TTL
		// (section 5.4: then everyone's cache gets it, by multicast).
		r.sendResponse(p.c, p.info.src, l.Index, answers, extra, true)
		return
	}
	limit := recordRateLimit
	if len(m.Ns) > 0 {
		limit = probeDefenseLimit // defending our names against a probe
	}
	var delay time.Duration
	switch {
	case m.Truncated:
		delay = jitter(truncatedDelayMin, truncatedDelayMax)
	case sharedAnswer:
		delay = jitter(sharedDelayMin, sharedDelayMax)
	}
	if delay == 0 {
		r.multicast(l, p.family, answers, limit, now)
		return
	}
	// Aggregate with a reply already waiting on this link and family.
	for _, pr := range r.pending {
		if pr.l == l && pr.family == p.family {
			for _, a := range answers {
				if !contains(pr.answers, a) {
					pr.answers = append(pr.answers, a)
				}
			}
			return
		}
	}
	r.pending = append(r.pending, &reply{due: now.Add(delay), l: l, family: p.family, answers: answers, limit: limit})
}

// multicastRecently reports whether every record was multicast on l
// within a quarter of its TTL.
func (r *Responder) multicastRecently(l *netif.Interface, family int, rrs []dns.RR, now time.Time) bool {
	for _, rr := range rrs {
		t, ok := r.lastSent[rateKey(l, family, rr)]
		if !ok || now.Sub(t) > time.Duration(rr.Header().Ttl)*time.Second/4 {
			return false
		}
	}
	return true
}

// multicast sends answers (with their additional records) to the group on
// l, leaving out records multicast there within limit.
func (r *Responder) multicast(l *netif.Interface, family int, answers []dns.RR, limit time.Duration, now time.Time) {
	c := r.c4
	if family == 6 {
		c = r.c6
	}
	if c == nil {
		return
	}
	fresh := func(rrs []dns.RR) []dns.RR {
		var out []dns.RR
		for _, rr := range rrs {
			if t, ok := r.lastSent[rateKey(l, family, rr)]; ok && now.Sub(t) < limit {
				continue
			}
			out = append(out, rr)
		}
		return out
	}
	answers = fresh(answers)
	if len(answers) == 0 {
		return
	}
	s := r.snapshot()
	extra := fresh(additional(answers, s.records(l, false)))
	r.sendResponse(c, group(family), l.Index, answers, extra, true)
	for _, rr := range append(answers, extra...) {
		r.lastSent[rateKey(l, family, rr)] = now
	}
	if len(r.lastSent) > 4096 {
		for k, t := range r.lastSent {
			if now.Sub(t) > recordRateLimit {
				delete(r.lastSent, k)
			}
		}
	}
}

// additional returns the records RFC 6763 section 12 recommends with the
// answers: SRV, TXT and addresses for a PTR to an instance, addresses for
// an SRV.
func additional(answers, all []dns.RR) []dns.RR {
	var out []dns.RR
	add := func(name string, types ...uint16) {
		for _, rr := range all {
			h := rr.Header()
			for _, t := range types {
				if h.Rrtype == t && sameName(h.Name, name) && !contains(answers, rr) && !contains(out, rr) {
					out = append(out, rr)
				}
			}
		}
	}
	for _, a := range answers {
		switch rr := a.(type) {
		case *dns.PTR:
			add(rr.Ptr, dns.TypeSRV, dns.TypeTXT)
			for _, x := range all {
				if srv, ok := x.(*dns.SRV); ok && sameName(srv.Hdr.Name, rr.Ptr) {
					add(srv.Target, dns.TypeA, dns.TypeAAAA)
				}
			}
		case *dns.SRV:
			add(rr.Target, dns.TypeA, dns.TypeAAAA)
		}
	}
	return out
}

func contains(rrs []dns.RR, rr dns.RR) bool {
	for _, x := range rrs {
		if sameRecord(x, rr) {
			return true
		}
	}
	return false
}

// suppress drops the records listed in known with at least half their TTL.
func suppress(rrs, known []dns.RR) []dns.RR {
	if len(known) == 0 {
		return rrs
	}
	var out []dns.RR
	for _, rr := range rrs {
		drop := false
		for _, k := range known {
			if k.Header().Ttl >= rr.Header().Ttl/2 && sameRecord(k, rr) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, rr)
		}
	}
	return out
}

func capTTL(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		cp := dns.Copy(rr)
		if cp.Header().Ttl > LegacyTTL {
			cp.Header().Ttl = LegacyTTL
		}
		out[i] = cp
	}
	return out
}
