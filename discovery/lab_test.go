package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// newLab builds a namespace LAN or skips the test with the reason.
func newLab(t *testing.T, cfg netlab.Config) *netlab.Lab {
	t.Helper()
	if testing.Short() {
		t.Skip("namespace LAN test skipped in -short mode")
	}
	if err := netlab.Available(); err != nil {
		t.Skipf("namespace LAN not available (needs root and ip): %v", err)
	}
	lab, err := netlab.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	return lab
}

// startAnnouncer runs an Announcer inside host h until the test ends.
func startAnnouncer(t *testing.T, h *netlab.Host, cfg AnnouncerConfig) *Announcer {
	t.Helper()
	var a *Announcer
	err := h.Do(func() (err error) {
		a, err = NewAnnouncer(cfg)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", h.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

func browserIn(t *testing.T, h *netlab.Host, cfg BrowserConfig) *Browser {
	t.Helper()
	var b *Browser
	if err := h.Do(func() (err error) { b, err = NewBrowser(cfg); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// browseN browses until n instances are found or timeout passes.
func browseN(t *testing.T, b *Browser, n int, timeout time.Duration) ([]Instance, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got []Instance
	var last time.Duration
	err := b.Browse(ctx, "", func(in Instance) {
		got = append(got, in)
		last = in.FoundAfter
		if len(got) == n {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, last
}

// countingNet counts the datagrams a Browser sends and the answers it
// receives, for the packet figures of TestLabTenServers.
type countingNet struct {
	network
	sent, answers atomic.Int64
}

func (c *countingNet) listen(family int, port int, shared bool, links []netif.Interface, log *slog.Logger) (pconn, error) {
	p, err := c.network.listen(family, port, shared, links, log)
	if err != nil {
		return nil, err
	}
	return &countingConn{pconn: p, n: c}, nil
}

type countingConn struct {
	pconn
	n *countingNet
}

func (c *countingConn) writeTo(b []byte, dst netip.AddrPort, ifIndex int) error {
	err := c.pconn.writeTo(b, dst, ifIndex)
	if err == nil {
		c.n.sent.Add(1)
	}
	return err
}

func (c *countingConn) readFrom(b []byte) (int, netip.AddrPort, netip.Addr, int, error) {
	n, src, dst, idx, err := c.pconn.readFrom(b)
	if h, _, perr := wire.Parse(b[:n]); err == nil && perr == nil && h.Type == wire.TypeAnswer {
		c.n.answers.Add(1)
	}
	return n, src, dst, idx, err
}

// TestLabTenServers is the discovery benchmark of BENCHMARKS.md: ten
// servers and a browser on a namespace LAN, without loss and with 30%
// frame loss; it reports the time to find all ten (median and worst of
// the runs) and the packets: queries the browser sent, answers it
// received, answers the servers sent.
func TestLabTenServers(t *testing.T) {
	const servers = 10
	runs := 20
	if testing.Verbose() {
		runs = 50
	}
	lab := newLab(t, netlab.Config{Hosts: servers + 1})
	var anns []*Announcer
	for i := range servers {
		anns = append(anns, startAnnouncer(t, lab.Host(i), AnnouncerConfig{Port: 9797, Instance: fmt.Sprintf("server-%d", i), Attrs: []string{"n=" + fmt.Sprint(i)}}))
	}
	cn := &countingNet{network: sysNetwork{}}
	var b *Browser
	if err := lab.Host(servers).Do(func() error {
		links, err := selectLinks(nil)
		if err != nil {
			return err
		}
		b, err = newBrowser(BrowserConfig{}, links, cn)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	answersSent := func() (n uint64, limited uint64) {
		for _, a := range anns {
			st := a.Stats()
			n += st.Answers
			limited += st.LimitedSource + st.LimitedGlobal
		}
		return n, limited
	}
	time.Sleep(time.Second) // let the servers' start bursts pass
	measure := func(name string, runs int) {
		var times []time.Duration
		var queries, answers, sent []int64
		for range runs {
			cn.sent.Store(0)
			cn.answers.Store(0)
			before, _ := answersSent()
			got, last := browseN(t, b, servers, 3*time.Second)
			q, a := cn.sent.Load(), cn.answers.Load()
			time.Sleep(100 * time.Millisecond) // late answers to the last round count as sent
			after, _ := answersSent()
			if len(got) != servers {
				t.Errorf("%s: found %d of %d", name, len(got), servers)
				continue
			}
			times = append(times, last)
			queries, answers, sent = append(queries, q), append(answers, a), append(sent, int64(after-before))
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		if len(times) > 0 {
			t.Logf("%s: %d runs, all %d found: median %v, worst %v; per run: queries sent %s, answers received %s, answers sent %s",
				name, len(times), servers, times[len(times)/2], times[len(times)-1], spread(queries), spread(answers), spread(sent))
		}
	}
	got, _ := browseN(t, b, servers, 3*time.Second)
	slices.SortFunc(got, func(a, b Instance) int { return a.Addrs[0].Compare(b.Addrs[0]) })
	for i, in := range got {
		want := netip.AddrPortFrom(lab.Host(i).IPv4, 9797)
		if in.Instance != fmt.Sprintf("server-%d", i) || in.Addrs[0] != want || in.Interface != "eth0" {
			t.Errorf("instance %d = %+v, want server-%d at %v on eth0", i, in, i, want)
		}
		if v, _ := in.Attr("n"); v != fmt.Sprint(i) {
			t.Errorf("instance %d attrs %v", i, in.Attrs)
		}
	}
	measure("no loss", runs)
	if err := lab.SetLoss(30); err != nil {
		t.Skipf("cannot set loss: %v", err)
	}
	measure("30% loss", runs)
	if _, limited := answersSent(); limited != 0 {
		t.Errorf("%d answers held back by the rate limits", limited)
	}
}

// spread formats counts as "median (min–max)".
func spread(v []int64) string {
	if len(v) == 0 {
		return "-"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return fmt.Sprintf("%d (%d–%d)", s[len(s)/2], s[0], s[len(s)-1])
}

func TestLabTwoSegments(t *testing.T) {
	// Host 0 serves on both segments; host 1 browses on A, host 2 on B.
	lab := newLab(t, netlab.Config{Hosts: 3, SecondSegment: []int{0, 2}})
	startAnnouncer(t, lab.Host(0), AnnouncerConfig{Port: 9797, Instance: "dual"})
	for _, c := range []struct {
		host  int
		iface string
		want  netip.Addr
	}{{1, "eth0", lab.Host(0).IPv4}, {2, "eth1", lab.Host(0).SecondIPv4}} {
		b := browserIn(t, lab.Host(c.host), BrowserConfig{Interfaces: []string{c.iface}})
		got, _ := browseN(t, b, 1, 2*time.Second)
		if len(got) != 1 || got[0].Addrs[0].Addr() != c.want || got[0].Interface != c.iface {
			t.Errorf("host %d on %s found %+v, want the server at %v", c.host, c.iface, got, c.want)
		}
	}
}

func TestLabBoundAddress(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 3, SecondSegment: []int{0, 2}})
	// Bound to its segment-B address only: invisible on A.
	startAnnouncer(t, lab.Host(0), AnnouncerConfig{Port: 9797, Instance: "b-only", Bound: []netip.Addr{lab.Host(0).SecondIPv4}})
	a := browserIn(t, lab.Host(1), BrowserConfig{})
	if got, _ := browseN(t, a, 1, 500*time.Millisecond); len(got) != 0 {
		t.Errorf("segment A found %+v", got)
	}
	bb := browserIn(t, lab.Host(2), BrowserConfig{Interfaces: []string{"eth1"}})
	got, _ := browseN(t, bb, 1, 2*time.Second)
	if len(got) != 1 || !slices.Equal(got[0].Addrs, []netip.AddrPort{netip.AddrPortFrom(lab.Host(0).SecondIPv4, 9797)}) {
		t.Errorf("segment B found %+v", got)
	}
	// Bound to loopback: not announced at all.
	err := lab.Host(0).Do(func() error {
		_, err := NewAnnouncer(AnnouncerConfig{Port: 9797, Bound: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
		return err
	})
	if err == nil {
		t.Error("announcer bound to loopback: no error")
	}
}

func TestLabWatch(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 3})
	var w *Watcher
	if err := lab.Host(2).Do(func() (err error) { w, err = NewWatcher(WatcherConfig{Passive: true}); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	events := make(chan Event, 16)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Watch(ctx, "", func(e Event) { events <- e }) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	next := func(want EventKind, reason string, within time.Duration) Event {
		t.Helper()
		select {
		case e := <-events:
			if e.Kind != want || e.Reason != reason {
				t.Fatalf("event %v/%s %s, want %v/%s", e.Kind, e.Reason, e.Instance.Instance, want, reason)
			}
			return e
		case <-time.After(within):
			t.Fatalf("no %v event within %v", want, within)
		}
		return Event{}
	}
	// Graceful stop: goodbye.
	var a *Announcer
	lab.Host(0).Do(func() (err error) {
		a, err = NewAnnouncer(AnnouncerConfig{Port: 9797, Instance: "polite", TTL: 3 * time.Second})
		return err
	})
	actx, acancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(actx); close(done) }()
	// The waits for an event that must come are generous (only a failure
	// waits them out): a loaded machine can stall the watcher a second.
	e := next(Up, "announce", 5*time.Second)
	if e.Instance.Instance != "polite" {
		t.Errorf("up %+v", e.Instance)
	}
	acancel()
	<-done
	next(Down, "goodbye", 5*time.Second)

	// Crash: expiry after the TTL.
	var k *Announcer
	lab.Host(1).Do(func() (err error) {
		k, err = NewAnnouncer(AnnouncerConfig{Port: 9797, Instance: "crash", TTL: 2 * time.Second})
		return err
	})
	k.running.Store(true)
	k.sendAll(0x11, 2, true) // one announcement, then silence: as if killed
	next(Up, "announce", 5*time.Second)
	start := time.Now()
	next(Down, "expired", 4*time.Second)
	if d := time.Since(start); d < time.Second {
		t.Errorf("expired after %v, TTL 2s", d)
	}
	k.Close()
}

// TestLabForgerListingBoth is the attacker's check of PROTOCOL.md 6.6 on a
// namespace LAN with real sockets: a forger on h1 answers every query at
// once, from its own address, with an ANSWER for the real server's
// instance (h0) whose record lists the forger's address and the server's,
// in either order. Every browse on h2 reports the real server's address,
// marked as a conflict with the forger's, whichever answer came first.
func TestLabForgerListingBoth(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 3})
	srv, forger := lab.Host(0), lab.Host(1)
	startAnnouncer(t, srv, AnnouncerConfig{Port: 9797, Instance: "real1", TTL: 120 * time.Second})
	var c net.PacketConn
	if err := forger.Do(func() (err error) {
		c, err = net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", wire.DiscoveryPort))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var order atomic.Int32 // 0: forger first in its record, 1: server first
	var answered atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			h, _, err := wire.Parse(buf[:n])
			if err != nil || h.Type != wire.TypeQuery {
				continue
			}
			as := []netip.Addr{forger.IPv4, srv.IPv4}
			if order.Load() == 1 {
				as[0], as[1] = as[1], as[0]
			}
			b, err := wire.AppendRecord(nil, wire.TypeAnswer, h.ID, wire.Record{Service: DefaultService, Instance: "real1", Port: 9797, TTL: 120, Addrs: as})
			if err == nil {
				if _, err := c.WriteTo(b, from); err == nil {
					answered.Add(1)
				}
			}
		}
	}()
	time.Sleep(time.Second) // past the server's start burst
	b := browserIn(t, lab.Host(2), BrowserConfig{})
	for run := range 6 {
		order.Store(int32(run % 2))
		// The browse ends at the first report from another source than
		// the forger, the one checked. The forger's answer may be reported
		// too, before it or in the same batch, when the server's IPv4
		// answer (which denies it) came later than answerHold after the
		// forger's or the server's IPv6 one: a loaded machine can stall the
		// announcer that long. The IPv4 answer then takes the report over
		// (found.late, moved); the batch came before it.
		var got []Instance
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		// A forger's answer stalled past answerHold behind the server's
		// (a loaded machine) comes after the server's report, which the
		// browser then repeats, marked: the browse ends at a marked one.
		err := b.Browse(ctx, "", func(in Instance) {
			got = append(got, in)
			if in.Source.Addr() != forger.IPv4 && in.Conflict {
				cancel()
			}
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		k := slices.IndexFunc(got, func(in Instance) bool { return in.Source.Addr() != forger.IPv4 && in.Conflict })
		if k < 0 {
			k = slices.IndexFunc(got, func(in Instance) bool { return in.Source.Addr() != forger.IPv4 })
		}
		if k < 0 {
			t.Fatalf("run %d: reports %+v, want one from the server", run, got)
		}
		for i, other := range got {
			if i != k {
				t.Logf("run %d: also reported from %v (%v, conflict %v)", run, other.Source, other.FoundAfter, other.Conflict)
			}
		}
		in := got[k]
		wantOther := netip.AddrPortFrom(forger.IPv4, 9797)
		// The server's record lists its IPv4 address first; its IPv6
		// answer may be the one reported (when it came first).
		fromSrv := slices.ContainsFunc(in.Addrs, func(a netip.AddrPort) bool { return plainAddr(a.Addr()) == plainAddr(in.Source.Addr()) })
		if in.Addrs[0].Addr() != srv.IPv4 || !fromSrv || in.Source.Addr() == forger.IPv4 || !in.Conflict || !slices.Contains(in.Others, wantOther) {
			t.Errorf("run %d (record order %d): reported %v from %v, conflict %v, others %v; want %v from it, conflict with %v",
				run, run%2, in.Addrs, in.Source, in.Conflict, in.Others, srv.IPv4, wantOther)
		}
	}
	if answered.Load() == 0 {
		t.Fatal("the forger answered no query")
	}
}
