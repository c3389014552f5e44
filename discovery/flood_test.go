package discovery

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/udpkit/udpkit/wire"
)

func TestRateDefaults(t *testing.T) {
	cases := []struct {
		in, def, want Rate
	}{
		{Rate{}, DefaultSourceRate, DefaultSourceRate},
		{Rate{PerSecond: 5}, DefaultSourceRate, Rate{5, 10}},
		{Rate{PerSecond: 0.2}, DefaultSourceRate, Rate{0.2, 1}},
		{Rate{PerSecond: 5, Burst: 3}, DefaultSourceRate, Rate{5, 3}},
		{Rate{Burst: 7}, DefaultGlobalRate, Rate{DefaultGlobalRate.PerSecond, 7}},
		{Rate{PerSecond: -1}, DefaultGlobalRate, Rate{-1, 1}},
	}
	for _, c := range cases {
		if got := resolveRate(c.in, c.def); got != c.want {
			t.Errorf("resolveRate(%+v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestAnswerLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newAnswerLimiter(Rate{10, 5}, Rate{1, 8}, 3)
	src := func(i byte, port uint16) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, i}), port)
	}
	const small, big = 200, 1472
	var got []int
	for range 7 {
		got = append(got, l.allow(src(1, 40000), small, now))
	}
	want := []int{allowed, allowed, allowed, allowed, allowed, limitedSource, limitedSource}
	if !equalInts(got, want) {
		t.Errorf("burst of one source: %v, want %v", got, want)
	}
	// Keyed by port: queries forged with the address from another port
	// do not use up a browser's fresh port.
	if r := l.allow(src(1, 40001), small, now); r != allowed {
		t.Errorf("same address, another port: %v", r)
	}
	now = now.Add(100 * time.Millisecond) // one token back
	if r := l.allow(src(1, 40000), small, now); r != allowed {
		t.Errorf("after 100 ms at 10/s: %v", r)
	}
	// Global burst of 8 at 1/s: 7 used, 1.1 left; one more source gets
	// one, then the global limit holds for small queries, and full-size
	// ones draw on the reserve (10 times the global limit: burst 80).
	if r := l.allow(src(2, 9), small, now); r != allowed {
		t.Errorf("second source: %v", r)
	}
	if r := l.allow(src(2, 9), small, now); r != limitedGlobal {
		t.Errorf("global burst spent, small query: %v", r)
	}
	if r := l.allow(src(2, 9), big, now); r != reserved {
		t.Errorf("global burst spent, full-size query: %v", r)
	}
	if len(l.sources) != 3 {
		t.Fatalf("%d sources tracked, want 3", len(l.sources))
	}
	// A full table of active sources forgets one for a new source: a
	// flood of made-up sources cannot lock a browser's new port out.
	if r := l.allow(src(4, 1), big, now); r != reserved || len(l.sources) != 3 {
		t.Errorf("fourth source with a full table of active sources: %v, %d tracked", r, len(l.sources))
	}
	// The reserve has a limit too: 80 at once, 10 a second.
	n := 0
	for i := range 200 {
		if l.allow(src(5, uint16(i)), big, now) == reserved {
			n++
		}
		if len(l.sources) > 3 {
			t.Fatalf("%d sources tracked, cap 3", len(l.sources))
		}
	}
	if n != 78 { // 80 less the two taken above
		t.Errorf("%d answers from the reserve, want 78", n)
	}
	now = now.Add(time.Second) // every bucket refills: the sweep frees the table
	if r := l.allow(src(6, 1), small, now); r != allowed || len(l.sources) != 1 {
		t.Errorf("after the sources went idle: %v, %d tracked", r, len(l.sources))
	}
	// No limit at all.
	u := newAnswerLimiter(Rate{-1, 1}, Rate{-1, 1}, 1)
	for i := range 1000 {
		if u.allow(src(byte(i), uint16(i)), small, now) != allowed {
			t.Fatal("unlimited limiter refused")
		}
	}
	if len(u.sources) != 0 {
		t.Error("unlimited limiter tracks sources")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSyncQueryFlood floods an Announcer with queries, from one source and
// from many spoofed ones, and checks that its answers stay within the
// limits while its tables stay within their caps.
func TestSyncQueryFlood(t *testing.T) {
	for _, c := range []struct {
		name    string
		sources int
		size    int // of each query
		maxAns  int // burst + 2 s of rate
	}{
		{"one source", 1, 512, DefaultSourceRate.Burst + 2*int(DefaultSourceRate.PerSecond)},
		{"one source, full-size queries", 1, DefaultQuerySize, DefaultSourceRate.Burst + 2*int(DefaultSourceRate.PerSecond)},
		{"many spoofed sources", 10000, 512, DefaultGlobalRate.Burst + 2*int(DefaultGlobalRate.PerSecond)},
		// The global limit and its reserve for full-size queries.
		{"many spoofed sources, full-size queries", 10000, DefaultQuerySize,
			(1 + reserveFactor) * (DefaultGlobalRate.Burst + 2*int(DefaultGlobalRate.PerSecond))},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lan := newFakeLAN()
				srv := lan.addHost("srv", 10)
				a, stop := runFake(t, srv, AnnouncerConfig{Port: 9797, Instance: "srv", TTL: time.Hour})
				defer stop()
				time.Sleep(time.Second) // past the start burst
				const total, batch = 10000, 50
				id := uint64(1)
				for sent := 0; sent < total; sent += batch {
					for i := range batch {
						n := (sent + i) % c.sources
						src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), 5353)
						q, _ := wire.AppendQuery(nil, id, wire.Query{}, c.size)
						id++
						lan.inject(srv, wire.DiscoveryPort, src, 2, q)
						if i%10 == 0 { // and copies of the same query: handled once
							lan.inject(srv, wire.DiscoveryPort, src, 2, q)
						}
					}
					time.Sleep(10 * time.Millisecond) // 10000 queries in 2 s
				}
				time.Sleep(time.Second)
				synctest.Wait()
				answers := len(lan.sends(byType(srv, wire.TypeAnswer, netip.AddrPort{})))
				st := a.Stats()
				if answers > c.maxAns || answers < c.maxAns/2 || c.size < reserveQuerySize && st.Reserved != 0 {
					t.Errorf("%d answers to %d queries in 2 s, want at most %d (and not far below)", answers, total, c.maxAns)
				}
				if uint64(answers) != st.Answers {
					t.Errorf("%d answers sent, counted %d", answers, st.Answers)
				}
				if st.Queries != total+total/10 || st.Duplicates != total/10 ||
					st.Answers+st.LimitedSource+st.LimitedGlobal != total {
					t.Errorf("stats %+v do not add up to %d queries", st, total)
				}
				a.mu.Lock()
				seen := len(a.seen)
				a.mu.Unlock()
				if seen > 4096 || len(a.limiter.sources) > maxSources {
					t.Errorf("tables: %d de-duplication entries (cap 4096), %d sources (cap %d)", seen, len(a.limiter.sources), maxSources)
				}
				t.Logf("%d answers; %+v", answers, st)
			})
		})
	}
}

// syncBuffer is a bytes.Buffer for slog that several goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func bufLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// TestSyncConfiguredNameConflict: two servers configured with one name
// keep it, detect each other (the late one by its probe, at once) and log
// an error once; a browser reports the name once and warns.
func TestSyncConfiguredNameConflict(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newFakeLAN()
		h1, h2, cli := lan.addHost("one", 10), lan.addHost("two", 11), lan.addHost("cli", 20)
		var log1, log2, logB syncBuffer
		a1, stop1 := runFake(t, h1, AnnouncerConfig{Port: 9797, Instance: "dup", Logger: bufLogger(&log1)})
		defer stop1()
		time.Sleep(5 * time.Second)
		a2, stop2 := runFake(t, h2, AnnouncerConfig{Port: 9797, Instance: "dup", Logger: bufLogger(&log2)})
		defer stop2()
		time.Sleep(10 * time.Millisecond) // the first probe is answered within 5 ms
		if a2.Stats().Conflicts == 0 {
			t.Error("the second server did not notice the first within 10 ms")
		}
		if a1.Stats().Conflicts == 0 {
			t.Error("the first server did not notice the second's announcement")
		}
		time.Sleep(2 * time.Second)
		for i, a := range []*Announcer{a1, a2} {
			if st := a.Stats(); a.Instance() != "dup" || st.Renames != 0 {
				t.Errorf("server %d: instance %q, %+v", i+1, a.Instance(), st)
			}
		}
		for i, l := range []string{log1.String(), log2.String()} {
			if n := strings.Count(l, "level=ERROR"); n != 1 || !strings.Contains(l, "instance=dup") {
				t.Errorf("server %d logged %d errors (want 1, once per peer):\n%s", i+1, n, l)
			}
		}
		b, err := newBrowser(BrowserConfig{Logger: bufLogger(&logB)}, cli.links, cli)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var got []Instance
		b.Browse(ctx, "", func(in Instance) { got = append(got, in) })
		// Neither record names the other: both servers are reported,
		// both marked, each naming the other (PROTOCOL.md 6.6).
		if len(got) != 2 || got[0].Instance != "dup" || got[1].Instance != "dup" || !got[0].Conflict || !got[1].Conflict ||
			got[0].Source.Addr() == got[1].Source.Addr() {
			t.Errorf("browser found %+v, want dup twice, from both servers, both marked", got)
		}
		if !strings.Contains(logB.String(), "same instance name") {
			t.Errorf("browser did not warn: %q", logB.String())
		}
	})
}

// forgedAnnounce is an ANNOUNCE of name from 198.18.0.99, an address that
// is no server's.
func forgedAnnounce(name string) []byte {
	b, _ := wire.AppendRecord(nil, wire.TypeAnnounce, 77, wire.Record{TTL: 120, Port: 9797, Service: DefaultService,
		Instance: name, Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.99")}})
	return b
}

var forger = netip.MustParseAddrPort("198.18.0.99:9798")

// fromHost matches every datagram host h sent.
func fromHost(h *fakeHost) func(fakeSend) bool {
	return func(s fakeSend) bool { return s.from == h }
}

// runFakeGenerated runs an Announcer whose name is generated (it may
// rename) but set to name, as two servers with one generated name have.
func runFakeGenerated(t *testing.T, h *fakeHost, name string, log *syncBuffer) (*Announcer, func()) {
	t.Helper()
	a, err := newAnnouncer(AnnouncerConfig{Port: 9797, Logger: bufLogger(log)}, h.links, h)
	if err != nil {
		t.Fatal(err)
	}
	if !a.auto {
		t.Fatal("the name is not generated")
	}
	if name != "" {
		a.cfg.Instance = name
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	var once sync.Once
	return a, func() { once.Do(func() { cancel(); <-done }) }
}

// TestSyncForgedAnnounceKeepsGeneratedName (issue 14 item 3): a server
// that holds its generated name and keeps announcing it keeps it when
// another address announces the name after its start burst: the conflict
// is counted and logged once, there is no rename and no new start burst
// (no datagram at all goes out for the forged one), however often the
// forgery comes.
func TestSyncForgedAnnounceKeepsGeneratedName(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newFakeLAN()
		srv := lan.addHost("srv", 10)
		var logs syncBuffer
		a, stop := runFakeGenerated(t, srv, "", &logs)
		defer stop()
		time.Sleep(2 * time.Second) // the start burst is over
		name := a.Instance()
		before := len(lan.sends(fromHost(srv)))
		for i := range 5 {
			lan.inject(srv, wire.DiscoveryPort, forger, 2, forgedAnnounce(name))
			synctest.Wait()
			time.Sleep(minRenameInterval + time.Second)
			if got := a.Instance(); got != name {
				t.Fatalf("forgery %d renamed the server: %q -> %q, %+v", i+1, name, got, a.Stats())
			}
		}
		st := a.Stats()
		if st.Renames != 0 || st.Conflicts != 5 {
			t.Errorf("stats %+v: want 5 conflicts, no rename", st)
		}
		if out := lan.sends(fromHost(srv)); len(out) != before {
			for _, s := range out[before:] {
				t.Logf("sent %v to %v at %v", s.h.Type, s.dst, s.at)
			}
			t.Errorf("%d datagrams sent after the forgeries, want none (the next refresh is due after 72 s)", len(out)-before)
		}
		if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "keeping it") {
			t.Errorf("want one warning (once per peer):\n%s", logs.String())
		}
	})
}

// TestSyncGeneratedNameConflictAtStart: a conflict heard while a generated
// name is being probed (its start burst) replaces the name, announces the
// new one at once (a new start burst, no goodbye for the old name: the
// other server holds it), and never renames again within
// minRenameInterval, nor once the new name's burst is over.
func TestSyncGeneratedNameConflictAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newFakeLAN()
		srv := lan.addHost("srv", 10)
		var logs syncBuffer
		a, stop := runFakeGenerated(t, srv, "", &logs)
		defer stop()
		time.Sleep(300 * time.Millisecond) // between the second and third start announcements
		old := a.Instance()
		at := time.Now()
		lan.inject(srv, wire.DiscoveryPort, forger, 2, forgedAnnounce(old))
		synctest.Wait()
		renamed := a.Instance()
		if renamed == old || wire.ValidateInstance(renamed) != nil || a.Stats().Renames != 1 {
			t.Fatalf("after a conflict in the start burst: %q (was %q), %+v", renamed, old, a.Stats())
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), renamed) {
			t.Errorf("log: %s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
		// A conflict in the new name's burst: counted, not renamed.
		lan.inject(srv, wire.DiscoveryPort, forger, 2, forgedAnnounce(renamed))
		synctest.Wait()
		if a.Instance() != renamed || a.Stats().Conflicts != 2 {
			t.Errorf("renamed again within %v: %q %+v", minRenameInterval, a.Instance(), a.Stats())
		}
		time.Sleep(time.Second)
		var times []time.Duration
		for _, s := range lan.sends(byType(srv, wire.TypeAnnounce, g4)) {
			_, body, _ := wire.Parse(s.b)
			if rec, _ := wire.ParseRecord(body); rec.Instance == renamed {
				times = append(times, s.at.Sub(at))
			}
		}
		if len(times) != 3 || times[0] != 0 || times[1] != 100*time.Millisecond || times[2] != 500*time.Millisecond {
			t.Errorf("new name announced at %v, want a new start burst", times)
		}
		if n := len(lan.sends(byType(srv, wire.TypeGoodbye, netip.AddrPort{}))); n != 0 {
			t.Errorf("%d goodbyes: the old name belongs to the other server now", n)
		}
		time.Sleep(minRenameInterval)
		lan.inject(srv, wire.DiscoveryPort, forger, 2, forgedAnnounce(renamed))
		synctest.Wait()
		if a.Instance() != renamed || a.Stats().Renames != 1 {
			t.Errorf("renamed after its burst: %q %+v", a.Instance(), a.Stats())
		}
	})
}

// TestSyncGeneratedNameTwins: two servers that start at the same moment
// with one generated name hear each other in their start bursts and end
// with distinct names; a third that starts later with the holder's name
// hears the holder answer its probe and renames, while the holder keeps
// its name (first come).
func TestSyncGeneratedNameTwins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newFakeLAN()
		h1, h2, h3 := lan.addHost("one", 10), lan.addHost("two", 11), lan.addHost("three", 12)
		var l1, l2, l3 syncBuffer
		a1, stop1 := runFakeGenerated(t, h1, "twin-0a1b2c", &l1)
		defer stop1()
		a2, stop2 := runFakeGenerated(t, h2, "twin-0a1b2c", &l2)
		defer stop2()
		time.Sleep(2 * time.Second)
		n1, n2 := a1.Instance(), a2.Instance()
		if strings.EqualFold(n1, n2) || a1.Stats().Renames+a2.Stats().Renames == 0 {
			t.Fatalf("twins: %q %q, %+v %+v", n1, n2, a1.Stats(), a2.Stats())
		}
		a3, stop3 := runFakeGenerated(t, h3, n1, &l3)
		defer stop3()
		time.Sleep(2 * time.Second)
		if a1.Instance() != n1 || a1.Stats().Conflicts == 0 {
			t.Errorf("holder: %q (was %q), %+v", a1.Instance(), n1, a1.Stats())
		}
		if n3 := a3.Instance(); n3 == n1 || n3 == n2 || a3.Stats().Renames != 1 {
			t.Errorf("newcomer: %q, %+v", n3, a3.Stats())
		}
	})
}

// TestSyncSameServerNoConflict: two Announcers for one server (one host,
// one port, one name) and a server's own looped-back messages are no
// conflict.
func TestSyncSameServerNoConflict(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newFakeLAN()
		srv := lan.addHost("srv", 10)
		a1, stop1 := runFake(t, srv, AnnouncerConfig{Port: 9797, Instance: "same"})
		defer stop1()
		a2, stop2 := runFake(t, srv, AnnouncerConfig{Port: 9797, Instance: "same"})
		defer stop2()
		time.Sleep(2 * time.Second)
		if a1.Stats().Conflicts+a2.Stats().Conflicts != 0 {
			t.Errorf("conflicts: %+v %+v", a1.Stats(), a2.Stats())
		}
		// Another port on the same host is another server.
		a3, stop3 := runFake(t, srv, AnnouncerConfig{Port: 9798, Instance: "same"})
		defer stop3()
		time.Sleep(time.Second)
		if a3.Stats().Conflicts == 0 || a1.Stats().Conflicts == 0 {
			t.Errorf("same host, other port: %+v %+v", a1.Stats(), a3.Stats())
		}
	})
}

func TestRenameInstance(t *testing.T) {
	long := strings.Repeat("é", 28) // 56 bytes
	for _, old := range []string{"host-0a1b2c", "host", "my-server", long + "-abcdef", "x-ABCDEF"} {
		n := renameInstance(old)
		if n == old || wire.ValidateInstance(n) != nil || len(n) > wire.MaxInstanceLen {
			t.Errorf("renameInstance(%q) = %q", old, n)
		}
		base, _, _ := strings.Cut(old, "-")
		if !strings.HasPrefix(n, base[:min(len(base), 10)]) {
			t.Errorf("renameInstance(%q) = %q: lost the host part", old, n)
		}
	}
	if n := renameInstance("host-0a1b2c"); len(n) != len("host-0a1b2c") {
		t.Errorf("suffix replaced, not appended: %q", n)
	}
}
