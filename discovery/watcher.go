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

// EventKind says what happened to an instance.
type EventKind int

// Event kinds.
const (
	// Up: the instance appeared (first announcement or answer).
	Up EventKind = iota + 1
	// Down: the instance left (goodbye), its TTL passed (expired), or
	// it was never confirmed and made room in a full table (evicted).
	Down
	// Update: the instance announced different addresses, port or
	// attributes.
	Update
)

// String returns "up", "down" or "update".
func (k EventKind) String() string {
	switch k {
	case Up:
		return "up"
	case Down:
		return "down"
	case Update:
		return "update"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is a change seen by a Watcher.
type Event struct {
	Kind EventKind
	// Reason is "announce", "answer" (from the Watcher's initial query),
	// "goodbye", "expired" or "evicted".
	Reason string
	// Instance is the instance as last seen; on Down, its addresses and
	// attributes are those of its last announcement.
	Instance Instance
	// Time is when the event happened.
	Time time.Time
}

// WatcherConfig configures a Watcher. Its zero value works; each field
// documents its default.
type WatcherConfig struct {
	// Interfaces selects interfaces in netif syntax. Default: the netif
	// default selection.
	Interfaces []string
	// Passive, when set, makes the Watcher only listen. By default it
	// also queries once when Watch starts (one Browse of about a second),
	// so instances already running show up at once instead of at their
	// next re-announcement, and it asks an instance whose refresh it
	// missed by unicast before its TTL runs out (maintenance queries at
	// 80, 85, 90 and 95 % of the TTL, RFC 6762 section 5.2). A passive
	// Watcher loses an instance whose one refresh per 2/3 TTL was lost
	// (Down "expired", then Up at the next refresh).
	Passive bool
	// DiscoveryPort is the UDP port announcements are sent to. Default
	// wire.DiscoveryPort.
	DiscoveryPort int
	// Keys, when set, authenticates discovery (PROTOCOL.md 6.7): only
	// announcements and goodbyes that pass authentication and the replay
	// window are heard, and the initial query is sealed. Default none.
	Keys *auth.Keyring
	// Logger receives warnings and debug detail. Default: none.
	Logger *slog.Logger
}

// A Watcher listens to announcements and goodbyes and reports instances
// coming and going, expiring those whose TTL passes without a new
// announcement. It binds the discovery port with address reuse (next to
// any Announcer on the host) and joins the groups on every selected
// interface. Instances are tracked per interface: one seen on two
// interfaces is reported twice, once with the addresses of each.
type Watcher struct {
	cfg   WatcherConfig
	log   *slog.Logger
	links []netif.Interface
	conns []pconn
	// ask are ephemeral sockets (IPv4, IPv6) for maintenance queries;
	// nil when Passive.
	ask [2]pconn
	// browsers query at the start, one per interface, so that an instance
	// reachable on two interfaces shows up on both at once (a Browser
	// reports an instance once); none when Passive.
	browsers []*Browser
	mu       sync.Mutex
	once     sync.Once
	cerr     error
	done     chan struct{} // closed by Close
	in       chan inPacket
	rwg      sync.WaitGroup // read loops
	stats    struct {
		goodbyes, conflicts, evicted, ignored, asked atomic.Uint64
	}
	gate *auth.Gate // nil without keys
}

// NewWatcher selects the interfaces and opens the Watcher's sockets.
func NewWatcher(cfg WatcherConfig) (*Watcher, error) {
	links, err := selectLinks(cfg.Interfaces)
	if err != nil {
		return nil, err
	}
	return newWatcher(cfg, links, sysNetwork{})
}

func newWatcher(cfg WatcherConfig, links []netif.Interface, nw network) (*Watcher, error) {
	if cfg.DiscoveryPort == 0 {
		cfg.DiscoveryPort = wire.DiscoveryPort
	}
	cfg.Interfaces = slices.Clone(cfg.Interfaces)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{cfg: cfg, log: log, links: links, done: make(chan struct{}), in: make(chan inPacket, 256)}
	g, err := auth.NewGate(cfg.Keys, auth.ReplayConfig{})
	if err != nil {
		return nil, err
	}
	w.gate = g
	var errs []error
	for _, fam := range []int{4, 6} {
		if !slices.ContainsFunc(links, func(l netif.Interface) bool { return hasFamily(&l, fam) }) {
			continue
		}
		c, err := nw.listen(fam, cfg.DiscoveryPort, true, links, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("IPv%d discovery port %d: %w", fam, cfg.DiscoveryPort, err))
			log.Warn("discovery: watcher cannot use this address family", "family", fam, "err", err)
			continue
		}
		w.conns = append(w.conns, c)
	}
	if len(w.conns) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrNoInterface, errors.Join(errs...))
	}
	for _, c := range w.conns {
		w.rwg.Go(func() { readLoop(c, w.in, log) })
	}
	if !cfg.Passive {
		for i, fam := range []int{4, 6} {
			if !slices.ContainsFunc(links, func(l netif.Interface) bool { return hasFamily(&l, fam) }) {
				continue
			}
			c, err := nw.listen(fam, 0, false, links, log)
			if err != nil {
				log.Warn("discovery: watcher cannot send maintenance queries", "family", fam, "err", err)
				continue
			}
			w.ask[i] = c
			w.rwg.Go(func() { readLoop(c, w.in, log) })
		}
		for _, l := range links {
			b, err := newBrowser(BrowserConfig{DiscoveryPort: cfg.DiscoveryPort, Keys: cfg.Keys, Logger: cfg.Logger}, []netif.Interface{l}, nw)
			if err != nil {
				log.Warn("discovery: watcher cannot query; listening only", "interface", l.Name, "err", err)
				continue
			}
			w.browsers = append(w.browsers, b)
		}
	}
	return w, nil
}

// Interfaces returns the names of the interfaces the Watcher listens on.
func (w *Watcher) Interfaces() []string {
	return linkNames(w.links)
}

// Close closes the Watcher's sockets; a running Watch returns.
func (w *Watcher) Close() error {
	w.once.Do(func() {
		close(w.done)
		var errs []error
		for _, c := range w.conns {
			errs = append(errs, c.close())
		}
		for _, c := range w.ask {
			if c != nil {
				errs = append(errs, c.close())
			}
		}
		for _, b := range w.browsers {
			errs = append(errs, b.Close())
		}
		w.rwg.Wait()
		w.cerr = errors.Join(errs...)
	})
	return w.cerr
}

// watched is one instance on one interface.
type watched struct {
	in      Instance
	expires time.Time
	// owners are the sources an update or goodbye of the instance is
	// believed from: the source of the datagram that created the entry
	// (or last took it over) and every address its record lists.
	owners []netip.Addr
	// heard is when an owner source last spoke for the instance.
	heard time.Time
	// firstID is the message ID of the datagram that created the entry
	// (0: an answer to the initial query); a datagram from an owner
	// source with another ID confirms the entry.
	firstID   uint64
	confirmed bool
	// announced is set once an owner source sent an ANNOUNCE of the
	// instance. An entry known only from ANSWERs is provisional: a host
	// that answers queries (any host sees a shared query's ID) but never
	// announces may have been faster than the real server, and the first
	// ANNOUNCE of the name from another source takes it over (PROTOCOL.md
	// 6.7).
	announced bool
	// displaced are the owner sources of the answer-only entry an
	// announcer took over: if one of them announces the name as well, it
	// takes it back (it held the name first), once.
	displaced []netip.Addr
	// challenger and challengeID are the last source that announced the
	// name against an answer-only entry, and that announcement's message
	// ID: one forged ANNOUNCE only marks the entry; the challenger takes
	// it over with a second announcement (another ID), as a server that
	// keeps announcing does (its start burst, or its next refresh).
	challenger  []netip.Addr // its owner sources: its source and record's addresses
	challengeID uint64
	// src and the key below count the entry against its creator's share
	// of unconfirmed entries.
	src    netip.Addr
	warned map[netip.Addr]bool // conflicting sources logged
	// asks counts the maintenance queries sent since the last refresh;
	// earned is the bytes the instance's owner sources sent (announcements
	// and answers), spent those of the maintenance queries sent to it: a
	// query goes only while spent stays within earned, so a forged
	// announcement draws at most its own bytes (issue 14, no reflection).
	asks          int
	earned, spent int
	size          int // bytes of the last announcement: the size of a maintenance query
}

// askAt are the fractions of the TTL, after the last refresh, at which a
// Watcher asks an instance it has not heard again (RFC 6762 section 5.2).
var askAt = [...]float64{0.80, 0.85, 0.90, 0.95}

// nextAsk returns when the next maintenance query of e is due; zero if
// none is.
func (e *watched) nextAsk() time.Time {
	if e.asks >= len(askAt) || e.spent+e.size > e.earned || !e.in.Source.IsValid() {
		return time.Time{}
	}
	last := e.expires.Add(-e.in.TTL)
	return last.Add(time.Duration(askAt[e.asks] * float64(e.in.TTL)))
}

// maxWatched caps the instances a Watch tracks, so that a flood of
// announcements with made-up names cannot grow its memory without bound.
const maxWatched = 4096

// maxUnconfirmedPerSource caps the unconfirmed entries one source holds
// on one interface, so that a flooder that does not forge its source
// cannot cycle the unconfirmed entries fast enough to evict a real server
// before its second announcement.
const maxUnconfirmedPerSource = maxWatched / 8

// maxWarned caps the conflicting sources remembered per entry.
const maxWarned = 8

// WatcherStats are a Watcher's counters since it was created.
type WatcherStats struct {
	// ForeignGoodbyes counts goodbyes ignored because they came from a
	// source that is not an owner source of the instance.
	ForeignGoodbyes uint64
	// Conflicts counts announcements and answers of a live instance's
	// name from a source that is not one of its owner sources (first
	// come, first served: they neither replace nor rename it), and
	// takeovers by an owner source whose record does not name the
	// instance's source (the instance's record spoke for it: the
	// Update event carries Instance.Conflict and the denied source), and
	// takeovers of an instance known only from answers by a source that
	// announces it (PROTOCOL.md 6.7, announcements beat answers).
	Conflicts uint64
	// Evicted counts unconfirmed entries dropped to make room in a full
	// table (each also reported as a Down event with reason "evicted").
	Evicted uint64
	// Ignored counts new instances not tracked because the table was
	// full of confirmed entries or their source held its share of
	// unconfirmed ones.
	Ignored uint64
	// Asked counts the maintenance queries sent: unicast queries to an
	// instance whose refresh did not arrive by 80 % of its TTL.
	Asked uint64
	// Unauthenticated counts, with keys, datagrams dropped because they
	// failed authentication; Replays those refused by the replay window
	// (among them the extra copies of every announcement).
	Unauthenticated, Replays uint64
}

// Stats returns the Watcher's counters. It is safe to call at any time.
func (w *Watcher) Stats() WatcherStats {
	s := &w.stats
	st := WatcherStats{ForeignGoodbyes: s.goodbyes.Load(), Conflicts: s.conflicts.Load(),
		Evicted: s.evicted.Load(), Ignored: s.ignored.Load(), Asked: s.asked.Load()}
	st.Unauthenticated, st.Replays = w.gate.Counts()
	for _, b := range w.browsers {
		bs := b.Stats()
		st.Unauthenticated += bs.Unauthenticated
		st.Replays += bs.Replays
	}
	return st
}

// ownersOf returns the owner sources of inst: where it came from and the
// addresses it lists, without zones.
func ownersOf(inst Instance) []netip.Addr {
	out := make([]netip.Addr, 0, len(inst.Addrs)+1)
	out = append(out, plainAddr(inst.Source.Addr()))
	for _, a := range inst.Addrs {
		if p := plainAddr(a.Addr()); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func plainAddr(a netip.Addr) netip.Addr { return a.WithZone("").Unmap() }

type srcKey struct {
	src   netip.Addr
	iface string
}

// goodbyeHold is how long after a goodbye announcements of the same
// instance are taken for late copies. It is shorter than the 500 ms of a
// restarted server's third start-up announcement, so a quick restart is
// still seen at once.
const goodbyeHold = 250 * time.Millisecond

// initialBrowse is how long a Watch queries when it starts.
const initialBrowse = time.Second

// Watch reports events for instances of service ("" for every service)
// until ctx ends, calling fn from Watch's goroutine. It returns nil when
// ctx ends or the Watcher is closed. Only one Watch runs at a time.
func (w *Watcher) Watch(ctx context.Context, service string, fn func(Event)) error {
	if service != "" {
		if err := wire.ValidateService(service); err != nil {
			return err
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for len(w.in) > 0 { // left over from an earlier Watch
		<-w.in
	}
	in := w.in
	var wg sync.WaitGroup
	defer wg.Wait()
	answers := make(chan Instance, 64)
	bctx, bcancel := context.WithTimeout(ctx, initialBrowse)
	defer bcancel()
	for _, b := range w.browsers {
		wg.Go(func() {
			_ = b.Browse(bctx, service, func(i Instance) {
				select {
				case answers <- i:
				case <-bctx.Done():
				}
			})
		})
	}
	closed := make(chan struct{})
	go func() { // Close makes every reader return; notice it
		select {
		case <-ctx.Done():
		case <-w.done:
		}
		close(closed)
	}()
	table := make(map[string]*watched)
	// gone holds recent goodbyes. An announcement and a goodbye of one
	// server can cross on the way (IPv4 and IPv6 copies are read by
	// different goroutines), and a copy of an announcement that arrives
	// just after the goodbye must not bring the server back.
	gone := make(map[string]time.Time)
	// expiry fires when the earliest record expires (exactly at its
	// TTL) or the earliest maintenance query is due.
	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	defer expiry.Stop()
	var next time.Time // when expiry is set to fire; zero: stopped
	rearm := func(now time.Time) {
		var first time.Time
		for _, e := range table {
			if first.IsZero() || e.expires.Before(first) {
				first = e.expires
			}
			if t := w.askTime(e); !t.IsZero() && t.Before(first) {
				first = t
			}
		}
		if first.Equal(next) {
			return
		}
		next = first
		if first.IsZero() {
			expiry.Stop()
		} else {
			expiry.Reset(first.Sub(now))
		}
	}
	// fifo holds the keys of unconfirmed entries, oldest first; entries
	// confirmed or removed since are skipped when it is read.
	var fifo []string
	unconfirmed := make(map[srcKey]int) // per creating source and interface
	release := func(e *watched) {
		if !e.confirmed {
			k := srcKey{e.src, e.in.Interface}
			if unconfirmed[k]--; unconfirmed[k] <= 0 {
				delete(unconfirmed, k)
			}
		}
	}
	remove := func(key string, e *watched, reason string, now time.Time) {
		delete(table, key)
		release(e)
		fn(Event{Kind: Down, Reason: reason, Instance: e.in, Time: now})
	}
	// evict drops the oldest unconfirmed entry; false if there is none.
	evict := func(now time.Time) bool {
		for len(fifo) > 0 {
			k := fifo[0]
			fifo = fifo[1:]
			if e := table[k]; e != nil && !e.confirmed {
				w.stats.evicted.Add(1)
				remove(k, e, "evicted", now)
				return true
			}
		}
		return false
	}
	// asked holds the message IDs of maintenance queries in flight.
	asked := make(map[uint64]bool)
	// seen handles an announcement or answer (size bytes) of inst.
	seen := func(inst Instance, id uint64, reason string, now time.Time, size int) {
		key := wire.FoldCase(inst.Service) + "\x00" + wire.FoldCase(inst.Instance) + "\x00" + inst.Interface
		src := plainAddr(inst.Source.Addr())
		e := table[key]
		// denied: the entry's record names src, but src's record does not
		// name the entry's source (PROTOCOL.md 6.7): the entry spoke for a
		// server that does not know it, as a forger listing its own and
		// the real server's addresses does. The server takes the entry
		// over at once, flagged as a conflict; from then on the forger's
		// source is no owner source.
		denied := false
		if e != nil && slices.Contains(e.owners, src) {
			esrc := plainAddr(e.in.Source.Addr())
			denied = esrc != src && !slices.Contains(ownersOf(inst), esrc)
			if denied {
				w.stats.conflicts.Add(1)
				w.log.Warn("discovery: a watched instance named an address that does not name it back; that address takes it over",
					"instance", inst.Instance, "interface", inst.Interface, "was", e.in.Source, "now", inst.Source)
				inst.Conflict = true
				inst.Others = []netip.AddrPort{netip.AddrPortFrom(e.in.Source.Addr(), e.in.Addrs[0].Port())}
			}
		}
		// announces: the entry is known only from answers and src
		// announces the name: the announcer takes it over at once, flagged,
		// the answer-only source in Others.
		// announces: the entry is known only from answers and src
		// announces the name: the announcer takes it over at once, flagged,
		// the answer-only source in Others. retakes: the answer-only
		// source so displaced announces the name too: it held the name
		// first, so it takes it back (once: both announce, first come).
		announces, retakes := false, false
		if e != nil && !denied && !slices.Contains(e.owners, src) && reason == "announce" {
			switch {
			case !e.announced && (!slices.Contains(e.challenger, src) || e.challengeID == id):
				// A first announcement from another source: marked, not
				// moved (one forged ANNOUNCE must not move a server known
				// from its answer; the watcher cannot tell which of two
				// claimants that both answered is the real one, but the
				// real one keeps announcing).
				e.challenger, e.challengeID = ownersOf(inst), id
				w.stats.conflicts.Add(1)
				if !e.in.Conflict || !slices.Contains(e.in.Others, netip.AddrPortFrom(inst.Source.Addr(), inst.Addrs[0].Port())) {
					w.log.Warn("discovery: an instance known only from answers is announced by another source; marked, taken over if it announces again",
						"instance", inst.Instance, "interface", inst.Interface, "owner", e.in.Source, "other", inst.Source)
					e.in.Conflict = true
					e.in.Others = append(slices.Clip(e.in.Others), netip.AddrPortFrom(inst.Source.Addr(), inst.Addrs[0].Port()))
					fn(Event{Kind: Update, Reason: reason, Instance: e.in, Time: now})
				}
				return
			case !e.announced:
				announces = true
				w.log.Warn("discovery: an instance known only from answers is announced by another source; the announcer takes it over",
					"instance", inst.Instance, "interface", inst.Interface, "was", e.in.Source, "now", inst.Source)
			case slices.Contains(e.displaced, src):
				retakes = true
				w.log.Warn("discovery: the first source of a watched instance, displaced by an announcer, announces it too; it takes it back",
					"instance", inst.Instance, "interface", inst.Interface, "was", e.in.Source, "now", inst.Source)
			}
		}
		var displaced []netip.Addr // the owners of an entry an announcer takes over
		if announces || retakes {
			w.stats.conflicts.Add(1)
			inst.Conflict = true
			inst.Others = []netip.AddrPort{netip.AddrPortFrom(e.in.Source.Addr(), e.in.Addrs[0].Port())}
			if announces {
				displaced = e.owners
			}
			announces = true
		}
		if e != nil && (denied || announces || !slices.Contains(e.owners, src)) {
			// An answer never takes a name from a source that announced
			// it, however long that source was silent: only an
			// announcement does (a server that moved announces).
			hold := now.Sub(e.heard) <= takeoverAfter(e.in.TTL) || e.announced && reason != "announce"
			if !denied && !announces && hold {
				// First come, first served (PROTOCOL.md 6.6): the
				// owner keeps announcing, the other source is ignored.
				w.stats.conflicts.Add(1)
				if !e.warned[src] && len(e.warned) < maxWarned {
					if e.warned == nil {
						e.warned = make(map[netip.Addr]bool)
					}
					e.warned[src] = true
					w.log.Warn("discovery: another source announces a watched instance name; ignored",
						"instance", inst.Instance, "interface", inst.Interface, "owner", e.in.Source, "other", inst.Source)
				}
				return
			}
			// The owner missed a re-announcement, or was denied: the
			// name moves (a server with a new address comes back within
			// 5/6 of the TTL).
			release(e)
			e.src, e.confirmed, e.firstID, e.warned = src, false, id, nil
			e.announced = reason == "announce"
			e.owners, e.heard, e.displaced = ownersOf(inst), now, displaced
			unconfirmed[srcKey{src, inst.Interface}]++
			fifo = append(fifo, key)
			e.in, e.expires = inst, now.Add(inst.TTL)
			e.asks, e.earned, e.spent, e.size = 0, size, 0, size
			fn(Event{Kind: Update, Reason: reason, Instance: inst, Time: now})
			rearm(now)
			return
		}
		switch {
		case e == nil:
			sk := srcKey{src, inst.Interface}
			if unconfirmed[sk] >= maxUnconfirmedPerSource || len(table) >= maxWatched && !evict(now) {
				w.stats.ignored.Add(1)
				w.log.Debug("discovery: watch table full; instance ignored", "instance", inst.Instance, "from", inst.Source)
				break
			}
			unconfirmed[sk]++
			if len(fifo) > 2*maxWatched { // drop the keys of entries gone since
				fifo = slices.DeleteFunc(fifo, func(k string) bool { e := table[k]; return e == nil || e.confirmed })
			}
			fifo = append(fifo, key)
			table[key] = &watched{in: inst, expires: now.Add(inst.TTL), owners: ownersOf(inst), heard: now,
				firstID: id, src: src, earned: size, size: size, announced: reason == "announce"}
			fn(Event{Kind: Up, Reason: reason, Instance: inst, Time: now})
		default:
			if reason == "announce" {
				e.announced = true
			}
			if !e.confirmed && id != e.firstID {
				release(e)
				e.confirmed = true
			}
			e.heard = now
			e.asks, e.size = 0, size
			e.earned = min(e.earned+size, maxEarned)
			// The conflict mark sticks: a name once claimed by another
			// source stays marked (the owner's refreshes do not clear
			// it), and a report that marks it late is an update.
			if e.in.Conflict && !inst.Conflict {
				inst.Conflict, inst.Others = true, e.in.Others
			}
			if !sameInstance(e.in, inst) || inst.Conflict && !slices.Equal(inst.Others, e.in.Others) {
				e.owners = ownersOf(inst)
				e.in, e.expires = inst, now.Add(inst.TTL)
				fn(Event{Kind: Update, Reason: reason, Instance: inst, Time: now})
			} else {
				e.expires = now.Add(inst.TTL)
			}
		}
		rearm(now)
	}
	for {
		select {
		case <-closed:
			return nil
		case inst := <-answers:
			seen(inst, 0, "answer", time.Now(), recordSize(inst))
		case now := <-expiry.C:
			next = time.Time{}
			for k, e := range table {
				if !now.Before(e.expires) {
					remove(k, e, "expired", now)
				} else if t := w.askTime(e); !t.IsZero() && !now.Before(t) {
					if len(asked) >= maxWatched {
						clear(asked)
					}
					if id, ok := w.askFor(e); ok {
						asked[id] = true
					}
					e.asks++
					e.spent += e.size
				}
			}
			rearm(now)
		case p := <-in:
			h, body, ok := w.gate.Open(p.b)
			if !ok || h.Type != wire.TypeAnnounce && h.Type != wire.TypeGoodbye && !(h.Type == wire.TypeAnswer && asked[h.ID]) {
				continue
			}
			rec, err := wire.ParseRecord(body)
			if err != nil {
				w.log.Debug("discovery: malformed announcement", "from", p.src, "err", err)
				continue
			}
			if service != "" && !wire.EqualFold(rec.Service, service) {
				continue
			}
			if netif.ByIndex(w.links, p.ifIndex) == nil {
				continue // heard on an interface not selected
			}
			now := time.Now()
			inst := instanceFrom(rec, p.src, ifaceName(w.links, p.ifIndex))
			key := wire.FoldCase(inst.Service) + "\x00" + wire.FoldCase(inst.Instance) + "\x00" + inst.Interface
			if h.Type == wire.TypeGoodbye || rec.TTL == 0 {
				e := table[key]
				if e == nil {
					continue
				}
				if !slices.Contains(e.owners, plainAddr(p.src.Addr())) {
					// Only the address the instance announced from
					// may say it left; a forged goodbye does not
					// even start the hold below.
					w.stats.goodbyes.Add(1)
					w.log.Debug("discovery: goodbye from a source that does not own the instance; ignored",
						"instance", rec.Instance, "from", p.src, "owner", e.in.Source)
					continue
				}
				if len(gone) >= maxWatched {
					clear(gone)
				}
				gone[key] = now
				remove(key, e, "goodbye", now)
				rearm(now)
				continue
			}
			if t, ok := gone[key]; ok {
				if now.Sub(t) < goodbyeHold {
					continue // a late copy from before the goodbye
				}
				delete(gone, key)
			}
			if h.Type == wire.TypeAnswer {
				delete(asked, h.ID)
				seen(inst, h.ID, "answer", now, len(p.b))
				continue
			}
			seen(inst, h.ID, "announce", now, len(p.b))
		}
	}
}

// sameInstance reports whether a and b announce the same addresses, port
// and attributes.
func sameInstance(a, b Instance) bool {
	return slices.Equal(a.Addrs, b.Addrs) && slices.Equal(a.Attrs, b.Attrs) && a.Truncated == b.Truncated
}

// maxEarned caps the bytes an instance's announcements earn for
// maintenance queries: enough for every query of many TTLs.
const maxEarned = 1 << 20

// askTime returns when the next maintenance query of e is due; zero if
// none is (a passive Watcher, all sent, or its bytes are spent).
func (w *Watcher) askTime(e *watched) time.Time {
	if w.ask[0] == nil && w.ask[1] == nil {
		return time.Time{}
	}
	return e.nextAsk()
}

// askFor sends a maintenance query for e's instance by unicast to the
// source it announced from, the size of its last announcement (so the
// answer fits and the query is no larger than what the source sent), and
// returns the query's message ID.
func (w *Watcher) askFor(e *watched) (uint64, bool) {
	c := w.ask[0]
	if !e.in.Source.Addr().Is4() {
		c = w.ask[1]
	}
	if c == nil {
		return 0, false
	}
	id := rand.Uint64()
	size := max(e.size, wire.QueryFixedLen+len(e.in.Service)+len(e.in.Instance)+w.gate.Overhead())
	msg, err := wire.AppendQuery(nil, id, wire.Query{Service: e.in.Service, Instance: e.in.Instance}, size-w.gate.Overhead())
	if err == nil {
		msg, err = w.gate.Seal(msg, -1)
	}
	if err != nil {
		return 0, false
	}
	idx := 0
	for _, l := range w.links {
		if l.Name == e.in.Interface {
			idx = l.Index
		}
	}
	w.stats.asked.Add(1)
	if err := c.writeTo(msg, e.in.Source, idx); err != nil {
		w.log.Debug("discovery: maintenance query not sent", "to", e.in.Source, "err", err)
	}
	return id, true
}

// recordSize is the size of the answer that reported inst, without
// authentication: what its server sent for it.
func recordSize(inst Instance) int {
	r := wire.Record{Service: inst.Service, Instance: inst.Instance, Attrs: inst.Attrs}
	for _, a := range inst.Addrs {
		r.Addrs = append(r.Addrs, a.Addr())
	}
	return wire.RecordLen(r)
}

// takeoverAfter is how long an instance's owner must have been silent
// before another source may take its name: past its refresh (every 2/3
// of the TTL) and the first maintenance query (80 %), so an owner that
// keeps announcing never loses its name.
func takeoverAfter(ttl time.Duration) time.Duration { return ttl * 5 / 6 }
