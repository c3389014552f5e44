package mdns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// Query schedule of the browser.
var (
	// oneShotAt are the front-loaded one-shot queries (RFC 6762 section
	// 5.1), sent from an ephemeral port after the start of a question:
	// responders answer them at once by unicast, so a lost frame costs
	// tens of milliseconds, not the second of the continuous schedule.
	oneShotAt = []time.Duration{0, 30 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 600 * time.Millisecond}
	// firstInterval and maxInterval bound continuous querying (section
	// 5.2): at least one second between the first two queries, then
	// doubling, at most 60 minutes.
	firstInterval = time.Second
	maxInterval   = time.Hour
	// addrGrace is how long a resolved instance with addresses of one
	// family waits for the other (Avahi answers over IPv6 with AAAA
	// records only, over IPv4 with both), so that IPv4 comes first.
	addrGrace = 25 * time.Millisecond
)

// BrowserConfig configures a Browser.
type BrowserConfig struct {
	// Interfaces are netif specs; empty means netif's default selection.
	Interfaces []string
	// Logger receives problems; nil means none.
	Logger *slog.Logger
}

// Instance is one resolved DNS-SD service instance.
type Instance struct {
	// Name is the instance name (the first label, unescaped).
	Name string
	// Service is the service type, such as "_http._tcp".
	Service string
	// Host is the target host name of the SRV record, such as "a.local.".
	Host string
	// Port is the SRV port.
	Port uint16
	// Addrs are the host's addresses as received on Interface: IPv4 first,
	// IPv6 link-local ones with the interface's name as zone.
	Addrs []netip.Addr
	// Text holds the TXT strings.
	Text []string
	// Interface is the name of the interface the answers arrived on.
	Interface string
	// FoundAfter is the time from the start of Browse to the resolution.
	FoundAfter time.Duration
	// TTL is the SRV record's TTL as the responder multicasts it, or 0
	// when it is unknown: when the SRV came only in a unicast answer to a
	// one-shot query, whose TTLs responders cap at 10 s (RFC 6762 section
	// 6.7) whatever the record's lifetime.
	TTL time.Duration
}

// Browser finds DNS-SD instances over mDNS on the selected interfaces. It
// listens on UDP 5353 (shared with other responders) for multicast
// answers and on an ephemeral port for unicast answers to one-shot
// queries. One Browse runs at a time.
type Browser struct {
	links  []netif.Interface
	log    *slog.Logger
	shared [2]conn // IPv4, IPv6 on port 5353
	oneOff [2]conn // IPv4, IPv6 on ephemeral ports
	pkts   chan packet
	mu     sync.Mutex // one Browse at a time
	once   sync.Once

	malformed, offLink uint64
	queries            atomic.Uint64 // datagrams sent, for tests and benchmarks
}

// NewBrowser selects the interfaces and opens the sockets.
func NewBrowser(cfg BrowserConfig) (*Browser, error) {
	links, err := selectLinks(cfg.Interfaces)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b := &Browser{links: links, log: log, pkts: make(chan packet, 1024)}
	b.shared[0], b.shared[1], err = openShared(links, log)
	if err != nil {
		return nil, err
	}
	for i, fam := range []int{4, 6} {
		if b.shared[i] == nil {
			continue
		}
		if b.oneOff[i], err = listen(fam, false, links, log); err != nil {
			b.Close()
			return nil, err
		}
	}
	for i, fam := range []int{4, 6} {
		for _, c := range []conn{b.shared[i], b.oneOff[i]} {
			if c != nil {
				go readLoop(c, fam, b.pkts, b.log)
			}
		}
	}
	return b, nil
}

// Close closes the sockets.
func (b *Browser) Close() error {
	b.once.Do(func() {
		for _, c := range append(b.shared[:], b.oneOff[:]...) {
			if c != nil {
				c.close()
			}
		}
	})
	return nil
}

// Interfaces returns the names of the interfaces browsed.
func (b *Browser) Interfaces() []string {
	out := make([]string, len(b.links))
	for i, l := range b.links {
		out[i] = l.Name
	}
	return out
}

// question is one question asked on a schedule: front-loaded one-shot
// queries, then continuous querying with doubling intervals.
type question struct {
	q        dns.Question
	start    time.Time
	oneShot  int // next index into oneShotAt
	nextCont time.Time
	interval time.Duration
	done     bool
}

func newQuestion(name string, t uint16, now time.Time) *question {
	return &question{q: dns.Question{Name: name, Qtype: t, Qclass: dns.ClassINET}, start: now, nextCont: now, interval: firstInterval}
}

func (q *question) next() time.Time {
	n := q.nextCont
	if q.oneShot < len(oneShotAt) {
		if t := q.start.Add(oneShotAt[q.oneShot]); t.Before(n) {
			n = t
		}
	}
	return n
}

// cached is one record heard on one interface.
type cached struct {
	rr      dns.RR
	ifIndex int
	expires time.Time
	legacy  bool // from a unicast answer to a one-shot query: TTL capped
}

// instState tracks one instance on one interface.
type instState struct {
	name     string // fully qualified instance name
	service  string
	ifIndex  int
	reported bool
	resolve  []*question
	waitAddr time.Time // when it waited for the other family's addresses
}

// browse is the state of one Browse call.
type browse struct {
	b         *Browser
	start     time.Time
	enumerate bool
	types     map[string]*question // lower-case service name → PTR question
	typeNames map[string]string    // lower-case service name → "_http._tcp"
	cache     map[string][]cached  // lower-case name/type → records
	insts     map[string]*instState
	fn        func(Instance)
}

// Browse reports every instance of service (such as "_http._tcp") as it is
// resolved (SRV, TXT and at least one address), once per instance and
// interface, until ctx ends. An empty service browses every service type
// present (_services._dns-sd._udp.local). It returns nil when ctx ends.
func (b *Browser) Browse(ctx context.Context, service string, fn func(Instance)) error {
	if service != "" {
		if err := wire.ValidateService(service); err != nil {
			return err
		}
	}
	if !b.mu.TryLock() {
		return errors.New("mdns: Browse already running")
	}
	defer b.mu.Unlock()
	// Drop what arrived before this Browse.
	for len(b.pkts) > 0 {
		<-b.pkts
	}
	now := time.Now()
	st := &browse{b: b, start: now, types: map[string]*question{}, typeNames: map[string]string{},
		cache: map[string][]cached{}, insts: map[string]*instState{}, fn: fn}
	if service == "" {
		st.enumerate = true
		st.types[wire.FoldCase(ServicesName)] = newQuestion(ServicesName, dns.TypePTR, now)
	} else {
		st.addType(service, now)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-b.pkts:
			st.handle(p, time.Now())
		case <-timer.C:
			now := time.Now()
			st.send(now)
			for _, in := range st.insts {
				if !in.reported && !in.waitAddr.IsZero() {
					st.tryResolve(in, now)
				}
			}
		}
		timer.Reset(time.Until(st.nextWake()))
	}
}

func (st *browse) addType(service string, now time.Time) {
	name := serviceName(service)
	k := wire.FoldCase(name)
	if _, ok := st.types[k]; ok {
		return
	}
	st.types[k] = newQuestion(name, dns.TypePTR, now)
	st.typeNames[k] = strings.TrimSuffix(strings.TrimSuffix(name, "."), ".local")
}

func (st *browse) questions() []*question {
	var qs []*question
	for _, q := range st.types {
		qs = append(qs, q)
	}
	for _, in := range st.insts {
		if !in.reported {
			qs = append(qs, in.resolve...)
		}
	}
	return qs
}

func (st *browse) nextWake() time.Time {
	w := time.Now().Add(maxInterval)
	for _, q := range st.questions() {
		if !q.done {
			if n := q.next(); n.Before(w) {
				w = n
			}
		}
	}
	for _, in := range st.insts {
		if !in.reported && !in.waitAddr.IsZero() {
			if n := in.waitAddr.Add(addrGrace); n.Before(w) {
				w = n
			}
		}
	}
	return w
}

// send sends the questions that are due, one-shot and continuous ones in
// separate messages, on every link and family.
func (st *browse) send(now time.Time) {
	var oneShot, cont []dns.Question
	for _, q := range st.questions() {
		if q.done {
			continue
		}
		if q.oneShot < len(oneShotAt) && !now.Before(q.start.Add(oneShotAt[q.oneShot])) {
			oneShot = append(oneShot, q.q)
			for q.oneShot < len(oneShotAt) && !now.Before(q.start.Add(oneShotAt[q.oneShot])) {
				q.oneShot++
			}
		}
		if !now.Before(q.nextCont) {
			cont = append(cont, q.q)
			if q.nextCont.Equal(q.start) {
				q.nextCont = now.Add(q.interval)
			} else {
				q.interval = min(q.interval*2, maxInterval)
				q.nextCont = now.Add(q.interval)
			}
		}
	}
	slices.SortFunc(oneShot, func(a, b dns.Question) int { return strings.Compare(a.Name, b.Name) })
	for i := range st.b.links {
		l := &st.b.links[i]
		for fi, fam := range []int{4, 6} {
			if (fam == 4 && len(l.IPv4) == 0) || (fam == 6 && !l.IPv6LinkLocal.IsValid()) {
				continue
			}
			if len(oneShot) > 0 && st.b.oneOff[fi] != nil {
				st.query(st.b.oneOff[fi], true, fam, l, oneShot, now)
			}
			if len(cont) > 0 && st.b.shared[fi] != nil {
				st.query(st.b.shared[fi], false, fam, l, cont, now)
			}
		}
	}
}

// query sends one query with known answers (section 7.1): the cached
// answers to its questions, heard on l, with more than half their TTL left.
func (st *browse) query(c conn, oneShot bool, family int, l *netif.Interface, qs []dns.Question, now time.Time) {
	m := new(dns.Msg)
	if oneShot {
		// A one-shot query is answered like a unicast DNS query, by ID;
		// multicast queries carry ID 0 (RFC 6762 section 18.1).
		m.Id = uint16(1 + rand.N(1<<16-1))
	}
	m.Question = qs
	for _, q := range qs {
		for _, ce := range st.cache[cacheKey(q.Name, q.Qtype)] {
			h := ce.rr.Header()
			left := ce.expires.Sub(now)
			if ce.ifIndex != l.Index || left <= time.Duration(h.Ttl)*time.Second/2 || h.Ttl <= LegacyTTL {
				continue
			}
			k := dns.Copy(ce.rr)
			k.Header().Ttl = uint32(left / time.Second)
			k.Header().Class &^= cacheFlush
			m.Answer = append(m.Answer, k)
		}
	}
	m.Compress = true
	for len(m.Answer) > 0 && m.Len() > maxSend {
		m.Answer = m.Answer[:len(m.Answer)-1] // what is left out is answered again: harmless
	}
	buf, err := m.Pack()
	if err != nil {
		st.b.log.Warn("mdns: packing a query", "err", err)
		return
	}
	if err := c.write(buf, group(family), l.Index); err != nil {
		st.b.log.Debug("mdns: query not sent", "interface", l.Name, "err", err)
		return
	}
	st.b.queries.Add(1)
}

func cacheKey(name string, t uint16) string {
	return fmt.Sprintf("%s/%d", canonName(name), t)
}

// canonName is a name in one spelling: labels unescaped, ASCII lower case,
// dots inside labels escaped.
func canonName(name string) string {
	name = dns.Fqdn(name)
	var b strings.Builder
	for name != "" {
		var l string
		l, name = firstLabel(name)
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(asciiLower(l), `\`, `\\`), ".", `\.`))
		b.WriteByte('.')
	}
	return b.String()
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// handle stores the records of a response and reports what it resolves.
func (st *browse) handle(p packet, now time.Time) {
	l := netif.ByIndex(st.b.links, p.info.ifIndex)
	if l == nil {
		return
	}
	if !onLink(l, p.info.src.Addr(), p.info.ttl) {
		st.b.offLink++
		return
	}
	m := new(dns.Msg)
	if err := m.Unpack(p.data); err != nil {
		st.b.malformed++
		return
	}
	if !m.Response || m.Opcode != dns.OpcodeQuery || m.Rcode != dns.RcodeSuccess {
		return
	}
	legacy := p.c == st.b.oneOff[0] || p.c == st.b.oneOff[1]
	for _, rr := range append(m.Answer, m.Extra...) {
		st.store(rr, l.Index, now, legacy)
	}
	for _, rr := range m.Answer {
		ptr, ok := rr.(*dns.PTR)
		if !ok || ptr.Hdr.Ttl == 0 {
			continue
		}
		owner := canonName(ptr.Hdr.Name)
		if st.enumerate && owner == wire.FoldCase(ServicesName) {
			if svc := strings.TrimSuffix(ptr.Ptr, "."+Domain); svc != ptr.Ptr && wire.ValidateService(svc) == nil {
				st.addType(svc, now)
			}
			continue
		}
		if _, ok := st.types[owner]; ok && owner != wire.FoldCase(ServicesName) {
			st.instance(ptr.Ptr, st.typeNames[owner], l.Index, now)
		}
	}
	for _, in := range st.insts {
		if !in.reported {
			st.tryResolve(in, now)
		}
	}
}

// store caches a record; a TTL of 0 (goodbye) removes it. A legacy
// (TTL-capped) copy does not replace a multicast one, whose TTL is real.
func (st *browse) store(rr dns.RR, ifIndex int, now time.Time, legacy bool) {
	h := rr.Header()
	if h.Class&^cacheFlush != dns.ClassINET {
		return
	}
	k := cacheKey(h.Name, h.Rrtype)
	list := st.cache[k]
	for i, ce := range list {
		if ce.ifIndex == ifIndex && sameRecord(ce.rr, rr) {
			if legacy && !ce.legacy && h.Ttl > 0 && now.Before(ce.expires) {
				return
			}
			list = slices.Delete(list, i, i+1)
			break
		}
	}
	if h.Ttl > 0 {
		list = append(list, cached{rr: rr, ifIndex: ifIndex, expires: now.Add(time.Duration(h.Ttl) * time.Second), legacy: legacy})
	}
	if len(list) == 0 {
		delete(st.cache, k)
		return
	}
	st.cache[k] = list
}

func (st *browse) lookup(name string, t uint16, ifIndex int, now time.Time) []dns.RR {
	var out []dns.RR
	for _, ce := range st.lookupCached(name, t, ifIndex, now) {
		out = append(out, ce.rr)
	}
	return out
}

func (st *browse) lookupCached(name string, t uint16, ifIndex int, now time.Time) []cached {
	var out []cached
	for _, ce := range st.cache[cacheKey(name, t)] {
		if ce.ifIndex == ifIndex && now.Before(ce.expires) {
			out = append(out, ce)
		}
	}
	return out
}

// instance starts tracking an instance seen in a PTR answer.
func (st *browse) instance(name, service string, ifIndex int, now time.Time) {
	k := fmt.Sprintf("%d/%s", ifIndex, canonName(name))
	if _, ok := st.insts[k]; ok {
		return
	}
	if len(st.insts) >= 10000 {
		return // memory cap
	}
	st.insts[k] = &instState{name: name, service: service, ifIndex: ifIndex}
}

// tryResolve reports the instance when SRV, TXT and an address are known,
// and otherwise asks for what is missing.
func (st *browse) tryResolve(in *instState, now time.Time) {
	srvs := st.lookupCached(in.name, dns.TypeSRV, in.ifIndex, now)
	txts := st.lookup(in.name, dns.TypeTXT, in.ifIndex, now)
	var srv *dns.SRV
	var addrs []netip.Addr
	var ttl time.Duration
	if len(srvs) > 0 {
		srv = srvs[0].rr.(*dns.SRV)
		if !srvs[0].legacy {
			ttl = time.Duration(srv.Hdr.Ttl) * time.Second
		}
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			for _, rr := range st.lookup(srv.Target, t, in.ifIndex, now) {
				if a, ok := addrOf(rr); ok {
					addrs = append(addrs, a)
				}
			}
		}
	}
	if srv == nil || len(txts) == 0 || len(addrs) == 0 {
		st.askMissing(in, srv, len(txts) > 0, now)
		return
	}
	l := netif.ByIndex(st.b.links, in.ifIndex)
	has4 := slices.ContainsFunc(addrs, netip.Addr.Is4)
	if has4 != slices.ContainsFunc(addrs, netip.Addr.Is6) {
		// One family only: wait a little for the other, asking for it.
		if len(l.IPv4) > 0 && l.IPv6LinkLocal.IsValid() && (in.waitAddr.IsZero() || now.Sub(in.waitAddr) < addrGrace) {
			if in.waitAddr.IsZero() {
				in.waitAddr = now
				t := dns.TypeA
				if has4 {
					t = dns.TypeAAAA
				}
				in.resolve = append(in.resolve, newQuestion(srv.Target, t, now))
			}
			return
		}
	}
	in.reported = true
	slices.SortStableFunc(addrs, func(a, b netip.Addr) int { return rank(a) - rank(b) })
	for i, a := range addrs {
		if a.Is6() && a.IsLinkLocalUnicast() {
			addrs[i] = a.WithZone(l.Name)
		}
	}
	label, _ := firstLabel(in.name)
	var text []string
	for _, s := range txts[0].(*dns.TXT).Txt {
		if s != "" {
			text = append(text, unescapeTXT(s))
		}
	}
	st.fn(Instance{Name: label, Service: in.service, Host: srv.Target, Port: srv.Port, Addrs: addrs, Text: text,
		Interface: l.Name, FoundAfter: now.Sub(st.start), TTL: ttl})
}

// rank orders addresses: IPv4, global IPv6, link-local IPv6.
func rank(a netip.Addr) int {
	switch {
	case a.Is4():
		return 0
	case a.IsLinkLocalUnicast():
		return 2
	}
	return 1
}

// askMissing schedules questions for the records an instance lacks.
func (st *browse) askMissing(in *instState, srv *dns.SRV, haveTXT bool, now time.Time) {
	want := map[string]bool{}
	if srv == nil {
		want[cacheKey(in.name, dns.TypeSRV)] = true
	}
	if !haveTXT {
		want[cacheKey(in.name, dns.TypeTXT)] = true
	}
	if srv != nil {
		want[cacheKey(srv.Target, dns.TypeA)] = true
		want[cacheKey(srv.Target, dns.TypeAAAA)] = true
	}
	for _, q := range in.resolve {
		k := cacheKey(q.q.Name, q.q.Qtype)
		if want[k] {
			delete(want, k)
		} else {
			q.done = true // answered meanwhile
		}
	}
	add := func(name string, t uint16) {
		if want[cacheKey(name, t)] {
			in.resolve = append(in.resolve, newQuestion(name, t, now))
		}
	}
	add(in.name, dns.TypeSRV)
	add(in.name, dns.TypeTXT)
	if srv != nil {
		add(srv.Target, dns.TypeA)
		add(srv.Target, dns.TypeAAAA)
	}
}
