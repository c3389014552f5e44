package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// EventKind says what happened to an instance.
type EventKind int

// Event kinds.
const (
	// Up: the instance appeared (first announcement or answer).
	Up EventKind = iota + 1
	// Down: the instance left (goodbye) or its TTL passed (expired).
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
	// "goodbye" or "expired".
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
	// next re-announcement.
	Passive bool
	// DiscoveryPort is the UDP port announcements are sent to. Default
	// wire.DiscoveryPort.
	DiscoveryPort int
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
		for _, l := range links {
			b, err := newBrowser(BrowserConfig{DiscoveryPort: cfg.DiscoveryPort, Logger: cfg.Logger}, []netif.Interface{l}, nw)
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
}

// maxWatched caps the instances a Watch tracks, so that a flood of
// announcements with made-up names cannot grow its memory without bound.
const maxWatched = 4096

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
	// expiry fires when the earliest record expires: exactly at its TTL.
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
	seen := func(inst Instance, reason string, now time.Time) {
		key := wire.FoldCase(inst.Service) + "\x00" + wire.FoldCase(inst.Instance) + "\x00" + inst.Interface
		e := table[key]
		switch {
		case e == nil && len(table) >= maxWatched:
			w.log.Debug("discovery: watch table full; instance ignored", "instance", inst.Instance, "from", inst.Source)
		case e == nil:
			table[key] = &watched{in: inst, expires: now.Add(inst.TTL)}
			fn(Event{Kind: Up, Reason: reason, Instance: inst, Time: now})
		case !sameInstance(e.in, inst):
			e.in, e.expires = inst, now.Add(inst.TTL)
			fn(Event{Kind: Update, Reason: reason, Instance: inst, Time: now})
		default:
			e.expires = now.Add(inst.TTL)
		}
		rearm(now)
	}
	for {
		select {
		case <-closed:
			return nil
		case inst := <-answers:
			seen(inst, "answer", time.Now())
		case now := <-expiry.C:
			next = time.Time{}
			for k, e := range table {
				if !now.Before(e.expires) {
					delete(table, k)
					fn(Event{Kind: Down, Reason: "expired", Instance: e.in, Time: now})
				}
			}
			rearm(now)
		case p := <-in:
			h, body, err := wire.Parse(p.b)
			if err != nil || h.Type != wire.TypeAnnounce && h.Type != wire.TypeGoodbye {
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
			if linkByIndex(w.links, p.ifIndex) == nil {
				continue // heard on an interface not selected
			}
			now := time.Now()
			inst := instanceFrom(rec, p.src, ifaceName(w.links, p.ifIndex))
			key := wire.FoldCase(inst.Service) + "\x00" + wire.FoldCase(inst.Instance) + "\x00" + inst.Interface
			if h.Type == wire.TypeGoodbye || rec.TTL == 0 {
				if len(gone) >= maxWatched {
					clear(gone)
				}
				gone[key] = now
				if e := table[key]; e != nil {
					delete(table, key)
					fn(Event{Kind: Down, Reason: "goodbye", Instance: e.in, Time: now})
					rearm(now)
				}
				continue
			}
			if t, ok := gone[key]; ok {
				if now.Sub(t) < goodbyeHold {
					continue // a late copy from before the goodbye
				}
				delete(gone, key)
			}
			seen(inst, "announce", now)
		}
	}
}

// sameInstance reports whether a and b announce the same addresses, port
// and attributes.
func sameInstance(a, b Instance) bool {
	return slices.Equal(a.Addrs, b.Addrs) && slices.Equal(a.Attrs, b.Attrs) && a.Truncated == b.Truncated
}
