package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// Instance is one service instance found on the LAN.
type Instance struct {
	// Service is the service type, such as "_udpkit._udp".
	Service string
	// Instance is the instance name.
	Instance string
	// Addrs are the instance's addresses on the interface it was found
	// on, with its port; IPv6 link-local addresses carry that interface
	// as their zone (fe80::1%eth0), so they can be used as they are.
	Addrs []netip.AddrPort
	// Interface is the name of the local interface the instance was
	// found on.
	Interface string
	// TTL is how long the record stays valid after it arrived.
	TTL time.Duration
	// Attrs are the instance's attributes, "key=value" or "key".
	Attrs []string
	// Truncated is set when the instance left attributes out and did not
	// answer the unicast follow-up query that asks for all of them.
	Truncated bool
	// FoundAfter is the time from the start of the browse to the answer.
	FoundAfter time.Duration
	// Source is the address and port the record came from.
	Source netip.AddrPort
	// Conflict is set when another source on the same interface answered
	// with the same name and the two records do not each list the other's
	// source (two servers with one name, or a forger: without keys the
	// Browser cannot always tell which is real, so it says so instead of
	// picking one silently). When one record names the other's source and
	// is not named back, only the named one is reported; otherwise every
	// claimant is reported, each marked, with the others in Others
	// (PROTOCOL.md 6.6).
	Conflict bool
	// Others are the sources of the conflicting answers, with the port
	// their records name.
	Others []netip.AddrPort
}

// Attr returns the value of attribute key and whether the instance has it.
func (in Instance) Attr(key string) (string, bool) { return wire.LookupAttr(in.Attrs, key) }

// instanceFrom builds an Instance from a record that arrived from src on
// interface ifName.
func instanceFrom(rec wire.Record, src netip.AddrPort, ifName string) Instance {
	in := Instance{Service: rec.Service, Instance: rec.Instance, Interface: ifName,
		TTL: recordTTL(rec.TTL), Attrs: rec.Attrs, Truncated: rec.Truncated, Source: src}
	for _, a := range rec.Addrs {
		if a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
			a = a.WithZone(ifName)
		}
		in.Addrs = append(in.Addrs, netip.AddrPortFrom(a, rec.Port))
	}
	if len(in.Addrs) == 0 {
		in.Addrs = []netip.AddrPort{netip.AddrPortFrom(src.Addr(), rec.Port)}
	}
	return in
}

// recordTTL is a record's TTL, capped at MaxTTL whatever the datagram
// says, so that a forged record cannot stay for 136 years.
func recordTTL(sec uint32) time.Duration {
	return min(time.Duration(sec)*time.Second, MaxTTL)
}

// listsOther reports whether rec lists an address of src's family but not
// src itself. An honest server answers from its address on the link, which
// its record lists; a record naming other addresses of that family than
// the one it came from is someone speaking for them.
func listsOther(rec wire.Record, src netip.Addr) bool {
	src = src.WithZone("").Unmap()
	other := false
	for _, a := range rec.Addrs {
		a = a.WithZone("").Unmap()
		if a == src {
			return false
		}
		if a.Is4() == src.Is4() {
			other = true
		}
	}
	return other
}

// BrowserConfig configures a Browser. Its zero value works; each field
// documents its default.
type BrowserConfig struct {
	// Interfaces selects interfaces in netif syntax (names, addresses,
	// CIDR prefixes, go-sockaddr templates). Default: the netif default
	// selection. Queries leave only through these interfaces.
	Interfaces []string
	// QuerySize is the size queries are padded to, so that answers fit
	// (an answer is never larger than its query). Default
	// DefaultQuerySize (1472 bytes); at most wire.DefaultMaxDatagram.
	// IPv6 copies are at most 1452 bytes (one Ethernet frame).
	QuerySize int
	// DiscoveryPort is the UDP port queries are sent to. Default wire.DiscoveryPort.
	DiscoveryPort int
	// Keys, when set, authenticates discovery (PROTOCOL.md 6.7): queries
	// are sealed (QuerySize includes the trailer) and only answers that
	// pass authentication and the replay window are heard, so a forger
	// without the key shows no server. Default none.
	Keys *auth.Keyring
	// Logger receives warnings and debug detail. Default: none.
	Logger *slog.Logger
}

// A Browser finds service instances on the LAN by sending queries (PROTOCOL.md
// section 6). It uses ephemeral ports only, so it works next to servers that
// announce on the same host.
type Browser struct {
	cfg   BrowserConfig
	log   *slog.Logger
	links []netif.Interface
	conns [2]pconn // IPv4, IPv6; either may be nil
	in    chan inPacket
	wg    sync.WaitGroup
	mu    sync.Mutex // one Browse at a time
	once  sync.Once
	cerr  error
	// foreign counts answers dropped because their record lists
	// addresses of their family but not the one they came from.
	foreign atomic.Uint64
	gate    *auth.Gate // nil without keys
}

// BrowserStats are a Browser's counters since it was created.
type BrowserStats struct {
	// ForeignAnswers counts answers dropped because their record lists
	// addresses of the source's family but not the source itself.
	ForeignAnswers uint64
	// Unauthenticated counts, with keys, datagrams dropped because they
	// failed authentication; Replays those refused by the replay window.
	Unauthenticated, Replays uint64
}

// Stats returns the Browser's counters. It is safe to call at any time.
func (b *Browser) Stats() BrowserStats {
	st := BrowserStats{ForeignAnswers: b.foreign.Load()}
	st.Unauthenticated, st.Replays = b.gate.Counts()
	return st
}

// NewBrowser selects the interfaces and opens the Browser's sockets (one
// IPv4, one IPv6; losing one family is only logged). Close it when done.
func NewBrowser(cfg BrowserConfig) (*Browser, error) {
	links, err := selectLinks(cfg.Interfaces)
	if err != nil {
		return nil, err
	}
	return newBrowser(cfg, links, sysNetwork{})
}

func newBrowser(cfg BrowserConfig, links []netif.Interface, nw network) (*Browser, error) {
	if cfg.QuerySize != 0 && (cfg.QuerySize < MinQuerySize || cfg.QuerySize > wire.DefaultMaxDatagram) {
		return nil, fmt.Errorf("discovery: query size %d is outside %d to %d bytes (answers are never larger than the query, and the smallest answer needs about %d)",
			cfg.QuerySize, MinQuerySize, wire.DefaultMaxDatagram, MinQuerySize)
	}
	if cfg.QuerySize == 0 {
		cfg.QuerySize = DefaultQuerySize
	}
	cfg.QuerySize = min(cfg.QuerySize, wire.DefaultMaxDatagram)
	if cfg.DiscoveryPort == 0 {
		cfg.DiscoveryPort = wire.DiscoveryPort
	}
	cfg.Interfaces = slices.Clone(cfg.Interfaces)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Browser{cfg: cfg, log: log, links: links, in: make(chan inPacket, 256)}
	g, err := auth.NewGate(cfg.Keys, auth.ReplayConfig{})
	if err != nil {
		return nil, err
	}
	b.gate = g
	var errs []error
	for i, fam := range []int{4, 6} {
		if !slices.ContainsFunc(links, func(l netif.Interface) bool { return hasFamily(&l, fam) }) {
			continue
		}
		c, err := nw.listen(fam, 0, false, links, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("IPv%d: %w", fam, err))
			log.Warn("discovery: browser cannot use this address family", "family", fam, "err", err)
			continue
		}
		b.conns[i] = c
	}
	if b.conns[0] == nil && b.conns[1] == nil {
		return nil, fmt.Errorf("%w: %w", ErrNoInterface, errors.Join(errs...))
	}
	for _, c := range b.conns {
		if c != nil {
			b.wg.Go(func() { readLoop(c, b.in, log) })
		}
	}
	return b, nil
}

// Interfaces returns the names of the interfaces the Browser queries.
func (b *Browser) Interfaces() []string {
	return linkNames(b.links)
}

// Close closes the Browser's sockets; a running Browse returns.
func (b *Browser) Close() error {
	b.once.Do(func() {
		var errs []error
		for _, c := range b.conns {
			if c != nil {
				errs = append(errs, c.close())
			}
		}
		b.wg.Wait()
		close(b.in)
		b.cerr = errors.Join(errs...)
	})
	return b.cerr
}

// found is what a Browse knows about one instance.
type found struct {
	hash    uint64
	pending *Instance // truncated answer waiting for the unicast follow-up
	held    *Instance // answer waiting for answerHold to pass
	since   time.Time
	src     netip.Addr // where the reported answer came from
	iface   string     // the interface the first answer came through
	warned  bool       // a name conflict was logged
	heard   []heard    // every source that answered for the name, first one first
	rep     int        // the index in heard of the reported answer
	others  []netip.AddrPort
	extra   []netip.AddrPort // conflicting sources heard beyond maxHeard
}

// heard is one source that answered for a name.
type heard struct {
	from   netip.AddrPort // the source address with the record's port
	iface  string
	owners []netip.Addr // the source and the addresses its record lists
	in     Instance     // the instance as this answer has it
	mine   bool         // the reported answer's server
	other  bool         // listed in Instance.Others
}

// maxHeard caps the sources remembered per name, so a flood of forged
// sources costs bounded memory and time; later ones are still compared.
const maxHeard = 16

func (h *heard) src() netip.Addr { return h.owners[0] }

// names reports whether a's record speaks for b's source: it lists it
// (or it is a's own source).
func names(a, b *heard) bool { return slices.Contains(a.owners, b.src()) }

// mutual reports whether a and b are one server (PROTOCOL.md 6.6): each
// record lists the other's source. A server's records list all its
// addresses on the link, among them every address it answers from, so
// its IPv4 and IPv6 answers name each other; a forger's record can name
// the server's address, but the server's never names the forger's.
func mutual(a, b *heard) bool { return names(a, b) && names(b, a) }

// denied reports whether f.heard[i] names the source of another answer
// on its interface that does not name it back: it speaks for a server
// that does not know it, as a forger listing its own and the real
// server's addresses does. Only that server (or a forger that sends
// with its address) can deny it.
func (f *found) denied(i int) bool {
	x := &f.heard[i]
	for j := range f.heard {
		if y := &f.heard[j]; j != i && y.iface == x.iface && names(x, y) && !names(y, x) {
			return true
		}
	}
	return false
}

// reported returns the answer f reports.
func (f *found) reported() *heard { return &f.heard[f.rep] }

// claimants returns in (the report of f's reported answer) and, when other
// servers answered with the name and no record denies them (neither record
// names the other's source: a forger listing only itself, or two servers
// with one name), their answers too, each marked as a conflict with the
// others as Others: without keys nothing says which one is real, so arrival
// order must not pick one silently (PROTOCOL.md 6.6). A denied answer (it
// named a server that does not name it back) is not reported.
func (f *found) claimants(in Instance) []Instance {
	out := []Instance{in}
	for i := range f.heard {
		if f.heard[i].other && !f.denied(i) {
			out = append(out, f.claimant(i))
		}
	}
	return out
}

// claimant returns the instance as f.heard[i], another server than the
// reported one, has it, marked as a conflict with the reported server (by
// an address of its family when heard) and the other servers.
func (f *found) claimant(i int) Instance {
	h := &f.heard[i]
	c := h.in
	c.Conflict = true
	rf := f.reported().from
	for j := range f.heard {
		if m := &f.heard[j]; m.mine && m.src().Is4() == h.src().Is4() {
			rf = m.from
			break
		}
	}
	c.Others = []netip.AddrPort{rf}
	for _, o := range f.others {
		if o != h.from {
			c.Others = append(c.Others, o)
		}
	}
	return c
}

// late returns what a browse reports when, after f's name was reported,
// an answer from another server arrives (i: its index in f.heard, -1 when
// it was not kept): that server's answer, marked, unless it is denied, and
// the reported answer again, now marked (Others listing the new one), so
// that a server slower than answerHold still marks a faster forger's
// report. When the new answer denies the reported one (moved), it is the
// new report, marked, and the denied answer is not repeated.
func (f *found) late(i int, moved bool) []Instance {
	r := f.reported()
	in := r.in
	in.Conflict, in.Others = true, slices.Clone(f.others)
	if moved {
		return []Instance{in}
	}
	out := []Instance{in}
	if i >= 0 && f.heard[i].other && !f.denied(i) {
		out = append(out, f.claimant(i))
	}
	return out
}

// pick returns the index of the answer to report: the first one on the
// first answer's interface that no other answer denies (the first answer,
// unless it names a source that does not name it back), and among the
// answers of that one's server the first of the first answer's family.
func (f *found) pick() int {
	first := &f.heard[0]
	for i := range f.heard {
		x := &f.heard[i]
		if x.iface != first.iface || f.denied(i) {
			continue
		}
		for j := range f.heard {
			y := &f.heard[j]
			if y.iface == x.iface && (j == i || mutual(x, y)) && y.src().Is4() == first.src().Is4() && !f.denied(j) {
				return j
			}
		}
		return i
	}
	return 0
}

// hear records an answer for f's name from n and reports whether it comes
// from the reported answer's server, whether the conflicting sources
// (f.others) changed, and whether the reported answer moved to another
// source. Answers from two sources on one interface are one server only
// when each record lists the other's source (PROTOCOL.md 6.6); any other
// source is a second server with the name, or a forger (a conflict). The
// answer reported is the first one, unless another answer denies it
// (pick): whichever of a forger naming the server and the server came
// first, the server is reported. f.others lists one address per other
// server, of the reported answer's family when heard.
func (f *found) hear(n heard) (mine, conflict, moved bool) {
	for i := range f.heard {
		if h := &f.heard[i]; h.iface == n.iface && h.src() == n.src() {
			return h.mine, false, false // a copy of an answer already heard
		}
	}
	old := slices.Clone(f.others)
	if len(f.heard) >= maxHeard { // compared with the reported server, then forgotten
		r := f.reported()
		for i := range f.heard {
			if h := &f.heard[i]; h.mine && !mutual(h, &n) {
				if n.iface == r.iface && len(f.extra) < maxWarned && !slices.Contains(f.extra, n.from) {
					f.extra = append(f.extra, n.from)
					f.collect()
				}
				return false, !slices.Equal(old, f.others), false
			}
		}
		return n.iface == r.iface, false, false
	}
	f.heard = append(f.heard, n)
	was := f.rep
	f.rep = f.pick()
	f.collect()
	return f.heard[len(f.heard)-1].mine, len(f.others) > 0 && !slices.Equal(old, f.others), f.rep != was
}

// collect marks the reported answer's server (the answers on its interface
// that name and are named by every one already marked, in the order
// heard) and lists the other sources on that interface in f.others.
func (f *found) collect() {
	for i := range f.heard {
		f.heard[i].mine, f.heard[i].other = false, false
	}
	r := f.reported()
	r.mine = true
	group := []*heard{r}
	for i := range f.heard {
		h := &f.heard[i]
		if h != r && h.iface == r.iface && !slices.ContainsFunc(group, func(g *heard) bool { return !mutual(g, h) }) {
			h.mine = true
			group = append(group, h)
		}
	}
	f.others = f.others[:0]
	fam4 := r.src().Is4()
	for i := range f.heard {
		c := &f.heard[i]
		if c.mine || c.iface != r.iface {
			continue
		}
		dup := false
		for j := range f.heard { // one address per other server
			o := &f.heard[j]
			if j == i || !o.other || !mutual(c, o) {
				continue
			}
			dup = true
			if c.src().Is4() == fam4 && o.src().Is4() != fam4 {
				if k := slices.Index(f.others, o.from); k >= 0 {
					f.others[k] = c.from
				}
				o.other, c.other = false, true
			}
			break
		}
		if !dup && len(f.others) < maxWarned {
			c.other = true
			f.others = append(f.others, c.from)
		}
	}
	for _, x := range f.extra {
		if len(f.others) < maxWarned && !slices.Contains(f.others, x) {
			f.others = append(f.others, x)
		}
	}
}

// truncatedWait is how long a Browse waits for the full record of an
// instance whose answer was truncated before it reports what it has.
const truncatedWait = 300 * time.Millisecond

// answerHold is how long a Browse holds the first answer to a name before
// it reports it, so that a second answer with the same name from another
// source marks the report as a conflict (Instance.Conflict). A server
// answers the querier at once and its shared copy after 0 to 5 ms, so
// whichever of a forger and the real server is heard first, the other is
// heard within the hold.
const answerHold = 10 * time.Millisecond

// answerFlow is how long after the last new answer the next query round
// waits at least (a little more than answerHold, so that a browse that
// stops at its last report sends no further round), and maxPush how much
// later than its schedule that makes a round at most.
const (
	// againRound is the first round (0-based) sent with QueryAgain.
	againRound = 2
	answerFlow = answerHold + 5*time.Millisecond
	maxPush    = 50 * time.Millisecond
)

// The first round's first copy (per link, the directed broadcast; else a
// group) goes alone, its other copies restDelay later, or restGap after
// the latest new answer while answers keep coming, at most restMax after
// the first. Every copy wakes every server on the link, and on hosts that
// share CPUs (a namespace LAN, VMs, containers) the servers' wake-ups for
// the second and third copy compete with the first copy's answers: sent
// together, they doubled the time to the tenth answer on a 2-CPU lab of
// ten servers (BENCHMARKS.md). A lost first copy is repaired by the others
// within the round. Later rounds, which repair losses, send every copy at
// once: few servers still answer them, and a split would delay the repair.
const (
	restDelay = time.Millisecond
	restGap   = 500 * time.Microsecond
	restMax   = 3 * time.Millisecond
)

// Browse queries for instances of service ("" for every service) until
// ctx ends and calls fn, from Browse's goroutine, once for each instance,
// answerHold (10 ms) after its first answer arrives. Each instance (service
// type and instance name) is reported once, with the addresses of the
// interface its first answer came through; addresses of later answers are
// never merged in. When another source answers with the same name and the
// two records do not each list the other's source (a conflict, PROTOCOL.md
// section 6.6, or a forger), the name is contested: when one record names
// a source whose record does not name it back, only that source's answer
// is reported; otherwise every claimant is reported, each with
// Instance.Conflict set and the others in Instance.Others, and a warning is
// logged. A claimant heard after the name was reported is reported then,
// and the earlier report is repeated with the mark. An answer whose record lists
// addresses of its family but not the one it came from is dropped
// (BrowserStats.ForeignAnswers). Queries go out
// at 0, 15, 40, 90, 190, 390 and 790 ms, then once a second, on every selected
// interface by directed broadcast, the IPv4 group and the IPv6 group (in
// the first round the groups 1 to 3 ms after the broadcast, restDelay); each
// lists the instances already found so that they stay quiet.
//
// To stop after n instances, cancel ctx from fn. Browse returns nil when ctx
// ends, and an error when the first round of queries could not be sent at
// all. Only one Browse runs at a time on a Browser.
func (b *Browser) Browse(ctx context.Context, service string, fn func(Instance)) error {
	if service != "" {
		if err := wire.ValidateService(service); err != nil {
			return err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.in) > 0 { // left over from an earlier Browse
		<-b.in
	}
	start := time.Now()
	ids := make(map[uint64]bool)
	known := make(map[string]*found)
	var order []string // keys of known, in the order found
	// Follow-ups are unicast to an answer's source, which may be forged
	// (the message ID of a broadcast query is heard by every host): the
	// bytes sent in follow-ups to an address stay within the bytes
	// received from it, until it answers a follow-up, whose ID went to it
	// alone (it proved it receives at that address, as a cookie would).
	fb := followBudget{in: map[netip.Addr]int{}, out: map[netip.Addr]int{},
		ids: map[uint64]netip.Addr{}, proven: map[netip.Addr]bool{}}
	// report reports in, the instance of f, and any other server that
	// claims its name undenied (found.claimants), all of them even when fn
	// cancels ctx at the first (a caller that stops after n instances
	// still sees every claimant of a contested name); after ctx ended
	// only when all is set (the browse's last flush).
	report := func(f *found, in Instance, all bool) {
		if all || ctx.Err() == nil {
			for _, x := range f.claimants(in) {
				fn(x)
			}
		}
	}
	// flush reports the truncated instances whose follow-up took too long
	// (all of them when the browse ends).
	flush := func(all bool) {
		for _, k := range order {
			f := known[k]
			if f.held != nil && (all || time.Since(f.since) >= answerHold) {
				in := *f.held
				f.held = nil
				report(f, in, all)
			}
			if f.pending != nil && (all || time.Since(f.since) >= truncatedWait) {
				in := *f.pending
				f.pending = nil
				report(f, in, all)
			}
		}
	}
	round := 0
	var nextRound time.Time // when the timer sends the next round
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// The copies of the first round after its first (restDelay), while
	// restDue is set.
	var rest roundMsgs
	var restFrom, restDue time.Time
	restT := time.NewTimer(time.Hour)
	restT.Stop()
	defer restT.Stop()
	sendRest := func() {
		restT.Stop()
		restDue = time.Time{}
		b.sendCopies(rest, restCopies)
	}
	// sendRound sends the next round of queries and sets the timer for
	// the one after.
	sendRound := func() error {
		if !restDue.IsZero() {
			sendRest() // the first round's copies first, in order
		}
		flush(false)
		hashes := make([]uint64, 0, len(order))
		for _, k := range order {
			hashes = append(hashes, known[k].hash)
		}
		id := rand.Uint64()
		ids[id] = true
		// From the third round on a query says so (QueryAgain):
		// answers to it also go to the broadcast address or
		// ff02::1, which needs no neighbour resolution. Not the
		// second: on a busy host answers can be late for it, and
		// every shared copy is delivered to every host.
		m, err := b.buildQuery(id, wire.Query{Service: service, Known: fitKnown(hashes, service), Again: round >= againRound})
		sent := 0
		switch {
		case err != nil:
		case round > 0 || !b.hasRest():
			sent, err = b.sendCopies(m, allCopies)
		default:
			sent, err = b.sendCopies(m, leadCopy)
			if sent == 0 { // nothing to wait for: the others now
				var e error
				if sent, e = b.sendCopies(m, restCopies); e != nil {
					err = e
				}
				break
			}
			rest, restFrom = m, time.Now()
			restDue = restFrom.Add(restDelay)
			restT.Reset(restDelay)
		}
		if err == nil && sent == 0 {
			err = ErrNoInterface
		}
		if round == 0 && sent == 0 {
			return fmt.Errorf("discovery: no query could be sent: %w", err)
		}
		asked := map[netip.Addr]bool{} // one follow-up per source and round
		for _, k := range order {      // ask truncated ones again, by unicast
			if f := known[k]; f.pending != nil && !asked[f.src] {
				asked[f.src] = true
				b.followUp(ids, &fb, f.pending)
			}
		}
		round++
		nextRound = start.Add(queryOffset(round))
		timer.Reset(time.Until(nextRound))
		return nil
	}
	// The first round goes now, not from the timer: a timer that fires
	// at once still costs a pass through the scheduler.
	if err := sendRound(); err != nil {
		return err
	}
	hold := time.NewTimer(time.Hour)
	hold.Stop()
	defer hold.Stop()
	holding := 0 // held answers not reported yet
	for {
		select {
		case <-ctx.Done():
			flush(true)
			return nil
		case <-hold.C:
			var first time.Time
			holding = 0
			for _, k := range order {
				f := known[k]
				if f.held == nil {
					continue
				}
				if time.Since(f.since) >= answerHold {
					in := *f.held
					f.held = nil
					report(f, in, false)
					continue
				}
				holding++
				if first.IsZero() {
					first = f.since
				}
			}
			if holding > 0 {
				hold.Reset(time.Until(first.Add(answerHold)))
			}
		case <-timer.C:
			if err := sendRound(); err != nil {
				return err
			}
		case <-restT.C:
			if !restDue.IsZero() {
				sendRest()
			}
		case p, ok := <-b.in:
			if !ok {
				return nil
			}
			h, body, ok := b.gate.Open(p.b)
			if !ok || h.Type != wire.TypeAnswer || !ids[h.ID] {
				continue
			}
			fb.heard(h.ID, p.src.Addr(), len(p.b))
			rec, err := wire.ParseRecord(body)
			if err != nil {
				b.log.Debug("discovery: malformed answer", "from", p.src, "err", err)
				continue
			}
			if rec.TTL == 0 || service != "" && !wire.EqualFold(rec.Service, service) {
				continue
			}
			if listsOther(rec, p.src.Addr()) {
				b.foreign.Add(1)
				b.log.Debug("discovery: answer names addresses it does not come from; dropped",
					"instance", rec.Instance, "from", p.src)
				continue
			}
			key := wire.FoldCase(rec.Service) + "\x00" + wire.FoldCase(rec.Instance)
			in := instanceFrom(rec, p.src, ifaceName(b.links, p.ifIndex))
			// When the read returned it, not now: the answer may have
			// waited in the channel behind others.
			in.FoundAfter = p.at.Sub(start)
			f := known[key]
			if f == nil && len(known) >= maxWatched {
				continue // a flood of made-up names: memory stays bounded
			}
			if f == nil && rec.Truncated {
				// The follow-up is a 1472-byte query to the answer's
				// source: only to a neighbour, never to whatever address
				// a forged answer names.
				if l := netif.ByIndex(b.links, p.ifIndex); l == nil || !l.OnLink(p.src.Addr()) {
					continue
				}
			}
			if f == nil && !restDue.IsZero() {
				// The round's first copy is still being answered: its
				// other copies wait until the answers pause.
				postpone(&restDue, restT, restGap, restFrom.Add(restMax))
			}
			if f == nil && round > 0 {
				// New answers are still coming in: the next round waits
				// until they have stopped for answerFlow (at most maxPush
				// past its time), so that on a clean LAN a browse that
				// stops once it has what it wants sends one round (every
				// round is heard by every host). Under loss the answers
				// of a round come within a few ms: no delay.
				postpone(&nextRound, timer, answerFlow, start.Add(queryOffset(round)).Add(maxPush))
			}
			n := heard{from: netip.AddrPortFrom(p.src.Addr(), rec.Port), iface: in.Interface, owners: ownersOf(in), in: in}
			switch {
			case f == nil && !rec.Truncated:
				f = &found{hash: wire.KnownHash(rec.Service, rec.Instance), held: &in, since: time.Now(),
					src: p.src.Addr(), iface: in.Interface}
				f.hear(n)
				known[key] = f
				order = append(order, key)
				if holding == 0 {
					hold.Reset(answerHold)
				}
				holding++
				continue
			case f == nil:
				f = &found{hash: wire.KnownHash(rec.Service, rec.Instance), pending: &in, since: time.Now(),
					src: p.src.Addr(), iface: in.Interface}
				f.hear(n)
				known[key] = f
				order = append(order, key)
				b.followUp(ids, &fb, &in)
				continue
			}
			// One server answers each query once per address family and
			// interface, from one address it lists, and its records list
			// each other's sources: any other source is a second server
			// with the same name (PROTOCOL.md 6.6), or a forger, whichever
			// of the two answered first. An answer that names a source
			// which does not name it back yields the report to that one.
			mine, conflict, moved := f.hear(n)
			if moved && (f.held != nil || f.pending != nil) {
				r := f.reported().in
				b.log.Debug("discovery: an answer names a source that does not name it back; reporting that source's answer",
					"instance", rec.Instance, "reported", r.Source, "instead of", f.src)
				f.src = r.Source.Addr()
				if r.Truncated {
					f.held, f.pending = nil, &r
					if l := netif.ByIndex(b.links, p.ifIndex); l != nil && l.OnLink(r.Source.Addr()) {
						b.followUp(ids, &fb, &r)
					}
				} else {
					if f.held == nil && holding == 0 {
						hold.Reset(max(time.Until(f.since.Add(answerHold)), 0))
					}
					if f.held == nil {
						holding++
					}
					f.held, f.pending = &r, nil
				}
			}
			if conflict || moved {
				for _, h := range []*Instance{f.held, f.pending} {
					if h != nil {
						h.Conflict = len(f.others) > 0
						h.Others = slices.Clone(f.others)
					}
				}
			}
			if (conflict || moved) && f.held == nil && f.pending == nil {
				// Reported already: the reports of the name are repeated,
				// marked (found.late); conflict is set only when f.others
				// changed, at most maxWarned times.
				i := len(f.heard) - 1
				if f.heard[i].from != n.from || f.heard[i].iface != n.iface {
					i = -1
				}
				if ctx.Err() == nil {
					for _, x := range f.late(i, moved) {
						fn(x)
					}
				}
			}
			if conflict {
				if !f.warned {
					f.warned = true
					b.log.Warn("discovery: two servers answer with the same instance name",
						"instance", rec.Instance, "service", rec.Service, "interface", in.Interface,
						"reported", f.src, "also", f.others)
				}
			}
			if mine && f.pending != nil && !rec.Truncated {
				in.Interface, in.Addrs = f.pending.Interface, f.pending.Addrs
				in.Conflict, in.Others = f.pending.Conflict, f.pending.Others
				f.pending = nil
				report(f, in, false)
			}
		}
	}
}

// famIndex is the index of a's address family in Browser.conns.
func famIndex(a netip.Addr) int {
	if a.Is4() || a.Is4In6() {
		return 0
	}
	return 1
}

// fitKnown cuts the known-answer list to what fits a query for service.
func fitKnown(h []uint64, service string) []uint64 {
	n := (wire.DefaultMaxDatagram - wire.QueryFixedLen - len(service)) / 8
	n = min(n, 255)
	if len(h) > n {
		h = h[len(h)-n:] // the most recent ones
	}
	return h
}

// followBudget keeps the follow-ups of one Browse from reflecting: per
// source address, the answer bytes received and the follow-up bytes sent,
// and whether the address answered a follow-up (proven).
type followBudget struct {
	in, out map[netip.Addr]int
	ids     map[uint64]netip.Addr // follow-up message IDs and where they went
	proven  map[netip.Addr]bool
}

// heard counts an answer of n bytes with message ID id from src.
func (fb *followBudget) heard(id uint64, src netip.Addr, n int) {
	src = src.Unmap()
	fb.in[src] += n
	if to, ok := fb.ids[id]; ok && to == src {
		fb.proven[src] = true
	}
}

// allow returns how many bytes a follow-up to dst may have: max for a
// proven address, else what dst sent less what it was sent.
func (fb *followBudget) allow(dst netip.Addr, max int) int {
	dst = dst.Unmap()
	if fb.proven[dst] {
		return max
	}
	return min(max, fb.in[dst]-fb.out[dst])
}

// followUp asks the instance in, whose answer was truncated, for its
// whole record by unicast, with a query padded to the largest datagram, or
// to what fb allows (not sent when even an unpadded one exceeds that).
func (b *Browser) followUp(ids map[uint64]bool, fb *followBudget, in *Instance) {
	id := rand.Uint64()
	size := wire.DefaultMaxDatagram
	if !in.Source.Addr().Is4() {
		size = maxDatagram6
	}
	size = fb.allow(in.Source.Addr(), size)
	msg, err := wire.AppendQuery(nil, id, wire.Query{Service: in.Service, Instance: in.Instance}, size-b.gate.Overhead())
	if err == nil {
		msg, err = b.gate.Seal(msg, -1)
	}
	if err != nil {
		return
	}
	if len(msg) > size {
		b.log.Debug("discovery: follow-up not sent: more than the source sent", "to", in.Source, "budget", size)
		return
	}
	c := b.conns[0]
	if !in.Source.Addr().Is4() {
		c = b.conns[1]
	}
	if c == nil {
		return
	}
	idx := 0
	for _, l := range b.links {
		if l.Name == in.Interface {
			idx = l.Index
		}
	}
	ids[id] = true
	fb.ids[id] = in.Source.Addr().Unmap()
	fb.out[in.Source.Addr().Unmap()] += len(msg)
	if err := c.writeTo(msg, in.Source, idx); err != nil {
		b.log.Debug("discovery: follow-up query failed", "to", in.Source, "err", err)
	}
}

// roundMsgs are the datagrams of one query round: the IPv4 copies and
// the IPv6 one (at most maxDatagram6 bytes), sealed once.
type roundMsgs struct{ msg, msg6 []byte }

// buildQuery builds the datagrams of query q with message ID id.
func (b *Browser) buildQuery(id uint64, q wire.Query) (roundMsgs, error) {
	msg, err := wire.AppendQuery(nil, id, q, b.cfg.QuerySize-b.gate.Overhead())
	if err == nil {
		msg, err = b.gate.Seal(msg, -1)
	}
	if err != nil {
		return roundMsgs{}, err
	}
	msg6 := msg
	if b.cfg.QuerySize > maxDatagram6 { // one Ethernet frame over IPv6 too
		msg6, err = wire.AppendQuery(nil, id, q, maxDatagram6-b.gate.Overhead())
		if err == nil {
			msg6, err = b.gate.Seal(msg6, -1)
		}
		if err != nil {
			return roundMsgs{}, err
		}
	}
	return roundMsgs{msg, msg6}, nil
}

// Which copies of a round sendCopies sends on each link (forEachTarget's
// order: directed broadcast, IPv4 group, IPv6 group).
const (
	leadCopy   = iota // the first only (refreshTarget's)
	restCopies        // all but the first
	allCopies
)

// sendCopies sends the copies of round m that part selects on every link
// and returns how many datagrams left and the last error.
func (b *Browser) sendCopies(m roundMsgs, part int) (int, error) {
	sent := 0
	var last error
	for i := range b.links {
		l := &b.links[i]
		// The copies of one family go in one system call: every server
		// gets both IPv4 copies before it is woken (the kernel runs the
		// servers it woke when a send returns), not once per copy.
		var dsts [2][]netip.AddrPort
		n := 0
		forEachTarget(l, b.cfg.DiscoveryPort, func(dst netip.AddrPort) {
			lead := n == 0
			n++
			if part == leadCopy && !lead || part == restCopies && lead {
				return
			}
			if f := famIndex(dst.Addr()); b.conns[f] != nil {
				dsts[f] = append(dsts[f], dst)
			}
		})
		for f, msg := range [2][]byte{m.msg, m.msg6} {
			if len(dsts[f]) == 0 {
				continue
			}
			for j, err := range writeToEach(b.conns[f], msg, dsts[f], l.Index) {
				if err != nil {
					last = fmt.Errorf("%s to %v: %w", l.Name, dsts[f][j], err)
					b.log.Debug("discovery: query not sent", "interface", l.Name, "to", dsts[f][j], "err", err)
					continue
				}
				sent++
			}
		}
	}
	return sent, last
}

// hasRest reports whether some link has more than one destination, so a
// round has copies after its lead one.
func (b *Browser) hasRest() bool {
	for i := range b.links {
		n := 0
		forEachTarget(&b.links[i], b.cfg.DiscoveryPort, func(netip.AddrPort) { n++ })
		if n > 1 {
			return true
		}
	}
	return false
}

// postpone moves *due to gap from now, but not past limit, when that is
// later than *due, and resets t to fire then.
func postpone(due *time.Time, t *time.Timer, gap time.Duration, limit time.Time) {
	next := time.Now().Add(gap)
	if limit.Before(next) {
		next = limit
	}
	if next.After(*due) {
		*due = next
		t.Reset(time.Until(next))
	}
}
