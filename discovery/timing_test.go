package discovery

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// These tests run the Announcer, Browser and Watcher on the in-memory
// fakeLAN inside a synctest bubble: no sockets, no root, and time is
// virtual, so the schedules are checked to the nanosecond.

var g4 = netip.AddrPortFrom(wire.DiscoveryGroup4, wire.DiscoveryPort)

// bc4 is the directed broadcast address of the fake LAN's eth0 at the
// discovery port: where start announcements and refreshes both go.
var bc4 = netip.MustParseAddrPort("198.18.0.255:9798")

// runFake starts an Announcer for cfg on host h and returns it with a
// stop function that cancels Run and waits for it (goodbyes included).
func runFake(t *testing.T, h *fakeHost, cfg AnnouncerConfig) (*Announcer, func()) {
	t.Helper()
	a, err := newAnnouncer(cfg, h.links, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	var once sync.Once
	return a, func() { once.Do(func() { cancel(); <-done }) }
}

func TestSyncAnnounceSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newFakeLAN()
		h := lan.addHost("srv", 10)
		start := time.Now()
		a, stop := runFake(t, h, AnnouncerConfig{Port: 9797, Instance: "srv", TTL: 3 * time.Second})
		time.Sleep(10 * time.Second)
		stopAt := time.Now()
		stop()

		anns := lan.sends(byType(h, wire.TypeAnnounce, bc4))
		if len(anns) < 7 {
			t.Fatalf("%d announcements in 10 s", len(anns))
		}
		if n := a.Stats().Announcements; n != uint64(len(anns)) {
			t.Errorf("Stats().Announcements = %d, want %d (one per round on the one link)", n, len(anns))
		}
		for i, want := range []time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond} {
			if got := anns[i].at.Sub(start); got != want {
				t.Errorf("announcement %d at %v, want %v", i, got, want)
			}
		}
		gaps := map[time.Duration]bool{}
		for i := 3; i < len(anns); i++ {
			gap := anns[i].at.Sub(anns[i-1].at)
			gaps[gap] = true
			if gap > 2*time.Second || gap < 1800*time.Millisecond {
				t.Errorf("re-announcement %d after %v; want 2/3 of the TTL (2 s) less up to 10%%", i, gap)
			}
		}
		if len(gaps) < 2 {
			t.Errorf("re-announcement gaps %v: no jitter", gaps)
		}
		// The start burst goes to the broadcast address and both groups;
		// a refresh to the broadcast address only: one datagram per
		// refresh, so an idle server sends less than one a minute with
		// the default TTL.
		for _, dst := range []string{"239.255.97.97:9798", "[ff02::9797%eth0]:9798"} {
			if n := len(lan.sends(byType(h, wire.TypeAnnounce, netip.MustParseAddrPort(dst)))); n != 3 {
				t.Errorf("%d announcements to %s, want the 3 of the start burst", n, dst)
			}
		}
		if n := len(lan.sends(byType(h, wire.TypeAnnounce, netip.AddrPort{}))); n != len(anns)+6 {
			t.Errorf("%d announcement datagrams, want %d (3 × 3 in the burst, one per refresh)", n, len(anns)+6)
		}
		byes := lan.sends(byType(h, wire.TypeGoodbye, g4))
		if len(byes) != 2 || !byes[0].at.Equal(stopAt) || byes[1].at.Sub(stopAt) != 20*time.Millisecond {
			t.Errorf("goodbyes %v, want at the stop and 20 ms later", byes)
		}
		for _, b := range byes {
			_, body, _ := wire.Parse(b.b)
			if rec, err := wire.ParseRecord(body); err != nil || rec.TTL != 0 {
				t.Errorf("goodbye %+v %v", rec, err)
			}
		}
	})
}

func TestSyncAnswerDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newFakeLAN()
		srv, cli := lan.addHost("srv", 10), lan.addHost("cli", 20)
		_, stop := runFake(t, srv, AnnouncerConfig{Port: 9797, Instance: "srv", MaxAnswerDelay: 5 * time.Millisecond,
			SourceRate: Rate{PerSecond: -1}})
		defer stop()
		time.Sleep(time.Second) // past the start's peer discovery (budget.go)
		b, err := newBrowser(BrowserConfig{}, cli.links, cli)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		for range 40 { // one answer per family and browse
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			b.Browse(ctx, "", func(Instance) {})
			cancel()
		}
		answers := lan.sends(unicastAnswers(srv))
		if len(answers) != 80 {
			t.Errorf("%d answers to 40 browses, want 80 (IPv4 and IPv6)", len(answers))
		}
		// A first round is answered by unicast only.
		if all := lan.sends(byType(srv, wire.TypeAnswer, netip.AddrPort{})); len(all) != 80 {
			t.Errorf("%d answer datagrams to first rounds, want 80: no shared copy without QueryAgain", len(all))
		}
		// Repeated queries (QueryAgain, a browser's later rounds) also
		// get the shared copy.
		for fam, dst := range map[int]netip.AddrPort{4: g4, 6: netip.MustParseAddrPort("[ff02::9797%eth0]:9798")} {
			c, _ := cli.listen(fam, 0, false, cli.links, nil)
			for i := range 40 {
				msg, _ := wire.AppendQuery(nil, uint64(1000*fam+i), wire.Query{Again: true}, DefaultQuerySize)
				c.writeTo(msg, dst, 2)
				time.Sleep(10 * time.Millisecond)
			}
			c.close()
		}
		queries := lan.sends(byType(cli, wire.TypeQuery, netip.AddrPort{}))
		answers = lan.sends(unicastAnswers(srv))
		if len(answers) != 160 {
			t.Errorf("%d unicast answers in all, want 160", len(answers))
		}
		if all := lan.sends(byType(srv, wire.TypeAnswer, netip.AddrPort{})); len(all) != 240 {
			t.Errorf("%d answer datagrams in all, want 240: each answer to a repeated query also goes to the broadcast address or ff02::1", len(all))
		}
		// The answer to the querier goes at once (RFC 6762 section 6: a
		// unique record's owner does not wait); the shared copy, which
		// every host hears, after a random 0 to 5 ms.
		// From the copy of the query the answer answers: its family's
		// (a browser's IPv6 copy leaves restDelay after its first).
		delay := func(a fakeSend) time.Duration {
			i := slices.IndexFunc(queries, func(q fakeSend) bool { return q.h.ID == a.h.ID && q.dst.Addr().Is4() == a.dst.Addr().Is4() })
			if i < 0 {
				t.Fatalf("answer %x to no query", a.h.ID)
			}
			return a.at.Sub(queries[i].at)
		}
		for _, a := range answers {
			if d := delay(a); d != 0 {
				t.Errorf("unicast answer after %v, want at once", d)
			}
		}
		delays := map[time.Duration]bool{}
		for _, a := range lan.sends(byType(srv, wire.TypeAnswer, netip.AddrPort{})) {
			if unicastAnswers(srv)(a) {
				continue
			}
			d := delay(a)
			delays[d] = true
			if d < 0 || d > 5*time.Millisecond {
				t.Errorf("shared copy after %v, want 0 to 5 ms", d)
			}
		}
		if len(delays) < 10 {
			t.Errorf("only %d distinct shared-copy delays: no jitter", len(delays))
		}
	})
}

func TestSyncQueryRounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newFakeLAN()
		cli := lan.addHost("cli", 20)
		b, err := newBrowser(BrowserConfig{}, cli.links, cli)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Browse(ctx, "", func(Instance) {}); err != nil {
			t.Fatal(err)
		}
		// A round is three copies at once, but the first round: its
		// first copy (the directed broadcast), then the IPv4 and IPv6
		// groups restDelay later (no answer comes to push them).
		bcast := netip.MustParseAddrPort("198.18.0.255:9798")
		qs := lan.sends(byType(cli, wire.TypeQuery, bcast))
		want := []time.Duration{0, 15, 40, 90, 190, 390, 790, 1790, 2790, 3790, 4790}
		if len(qs) != len(want) {
			t.Fatalf("%d rounds in 5 s, want %d", len(qs), len(want))
		}
		ids := map[uint64]bool{}
		for i, q := range qs {
			if got := q.at.Sub(start); got != want[i]*time.Millisecond {
				t.Errorf("round %d at %v, want %v ms", i, got, want[i])
			}
			ids[q.h.ID] = true
			same := lan.sends(func(s fakeSend) bool { return s.h.ID == q.h.ID })
			if len(same) != 3 {
				t.Errorf("round %d: %d copies, want 3 (broadcast, two groups)", i, len(same))
			}
			split := time.Duration(0)
			if i == 0 {
				split = restDelay
			}
			for _, c := range same[1:] {
				if c.dst == bcast || c.at.Sub(q.at) != split {
					t.Errorf("round %d: copy to %v after %v, want the groups %v after the broadcast", i, c.dst, c.at.Sub(q.at), split)
				}
			}
			if len(q.b) != DefaultQuerySize {
				t.Errorf("query of %d bytes, want padding to %d", len(q.b), DefaultQuerySize)
			}
		}
		if len(ids) != len(qs) {
			t.Error("rounds reuse message IDs")
		}
	})
}

func TestSyncKnownAnswerSuppression(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newFakeLAN()
		names := []string{"a", "b", "c"}
		var srvs []*fakeHost
		for i, n := range names {
			h := lan.addHost(n, 10+i)
			srvs = append(srvs, h)
			_, stop := runFake(t, h, AnnouncerConfig{Port: 9797, Instance: n})
			defer stop()
		}
		cli := lan.addHost("cli", 20)
		// c's answers to the first round are lost.
		lan.mu.Lock()
		lan.drop = func(s fakeSend, to *fakeHost) bool {
			return s.from == srvs[2] && s.h.Type == wire.TypeAnswer && to == cli && firstRound(lan, cli, s.h.ID)
		}
		lan.mu.Unlock()
		b, err := newBrowser(BrowserConfig{}, cli.links, cli)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		time.Sleep(time.Second) // past the announcers' start bursts
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var got []string
		b.Browse(ctx, "", func(in Instance) { got = append(got, in.Instance) })
		slices.Sort(got)
		if !slices.Equal(got, names) {
			t.Errorf("found %v, want %v once each", got, names)
		}
		rounds := lan.sends(byType(cli, wire.TypeQuery, g4))
		for i, r := range rounds {
			_, body, _ := wire.Parse(r.b)
			q, _ := wire.ParseQuery(body)
			answered := map[string]int{}
			for _, a := range lan.sends(func(s fakeSend) bool {
				return s.h.Type == wire.TypeAnswer && s.h.ID == r.h.ID && !s.dst.Addr().IsMulticast() && !isBroadcast(s.dst.Addr())
			}) {
				answered[a.from.name]++
			}
			var want map[string]int
			var known []uint64
			switch i {
			case 0:
				want = map[string]int{"a": 2, "b": 2, "c": 2} // IPv4 and IPv6 each
			case 1:
				want = map[string]int{"c": 2}
				known = []uint64{wire.KnownHash(DefaultService, "a"), wire.KnownHash(DefaultService, "b")}
			default:
				want = map[string]int{}
				known = []uint64{wire.KnownHash(DefaultService, "a"), wire.KnownHash(DefaultService, "b"), wire.KnownHash(DefaultService, "c")}
			}
			slices.Sort(known)
			slices.Sort(q.Known)
			if !maps_equal(answered, want) || !slices.Equal(q.Known, known) {
				t.Errorf("round %d: known %x, answered by %v; want known %x, answers %v", i, q.Known, answered, known, want)
			}
		}
		if len(rounds) < 8 {
			t.Errorf("%d rounds in 3 s", len(rounds))
		}
	})
}

// firstRound reports whether id is the ID of host h's first query.
func firstRound(lan *fakeLAN, h *fakeHost, id uint64) bool {
	for _, s := range lan.log { // lan.mu is held by the caller (writeTo)
		if s.from == h && s.h.Type == wire.TypeQuery {
			return s.h.ID == id
		}
	}
	return false
}

func maps_equal(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestSyncWatcherExpiryAndGoodbye(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newFakeLAN()
		crash, polite, wh := lan.addHost("crash", 10), lan.addHost("polite", 11), lan.addHost("w", 20)
		w, err := newWatcher(WatcherConfig{Passive: true}, wh.links, wh)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		var events []Event
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { w.Watch(ctx, "", func(e Event) { events = append(events, e) }) })
		defer func() { cancel(); wg.Wait() }()
		synctest.Wait() // the watcher is listening before anyone announces

		start := time.Now()
		_, stopCrash := runFake(t, crash, AnnouncerConfig{Port: 9797, Instance: "crash", TTL: 2 * time.Second})
		defer stopCrash()
		_, stopPolite := runFake(t, polite, AnnouncerConfig{Port: 9797, Instance: "polite", TTL: 2 * time.Second})
		time.Sleep(3 * time.Second)
		// Pull crash's cable: nothing it sends arrives any more.
		lan.mu.Lock()
		lan.drop = func(s fakeSend, _ *fakeHost) bool { return s.from == crash }
		lan.mu.Unlock()
		cut := time.Now()
		time.Sleep(time.Second)
		stopAt := time.Now()
		stopPolite()
		time.Sleep(5 * time.Second)
		synctest.Wait()

		last := lan.sends(func(s fakeSend) bool {
			return s.from == crash && s.h.Type == wire.TypeAnnounce && s.at.Before(cut)
		})
		lastAt := last[len(last)-1].at
		type ev struct {
			name   string
			kind   EventKind
			reason string
			at     time.Duration
		}
		var got []ev
		for _, e := range events {
			got = append(got, ev{e.Instance.Instance, e.Kind, e.Reason, e.Time.Sub(start)})
		}
		slices.SortStableFunc(got, func(a, b ev) int {
			if a.at != b.at {
				return int(a.at - b.at)
			}
			return strings.Compare(a.name, b.name)
		})
		want := []ev{
			{"crash", Up, "announce", 0},
			{"polite", Up, "announce", 0},
			{"polite", Down, "goodbye", stopAt.Sub(start)},
			{"crash", Down, "expired", lastAt.Add(2 * time.Second).Sub(start)},
		}
		slices.SortStableFunc(want, func(a, b ev) int {
			if a.at != b.at {
				return int(a.at - b.at)
			}
			return strings.Compare(a.name, b.name)
		})
		if !slices.Equal(got, want) {
			t.Errorf("events\n got %v\nwant %v", got, want)
		}
	})
}

// unicastAnswers selects the answers from h sent to the querier itself, not
// their broadcast or multicast copies.
func unicastAnswers(h *fakeHost) func(fakeSend) bool {
	return func(s fakeSend) bool {
		return s.from == h && s.h.Type == wire.TypeAnswer && !s.dst.Addr().IsMulticast() && !isBroadcast(s.dst.Addr())
	}
}

// isBroadcast reports whether a is a directed broadcast address of the fake
// LAN (its hosts are in /24s).
func isBroadcast(a netip.Addr) bool { return a.Is4() && a.As4()[3] == 255 }

// Close ends Run, as Browser.Close and Watcher.Close end theirs: Run
// returns without waiting for its context.
func TestSyncAnnouncerCloseEndsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newFakeLAN()
		h := lan.addHost("srv", 10)
		a, err := newAnnouncer(AnnouncerConfig{Port: 9797, Instance: "srv"}, h.links, h)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		time.Sleep(time.Second)
		a.Close()
		time.Sleep(time.Second)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after Close: %v", err)
			}
		default:
			cancel()
			<-done
			t.Fatal("Close did not end Run")
		}
	})
}

// TestSyncRestCopies: the first round's copies after the first wait restDelay,
// or restGap past the latest new answer while answers keep coming, at
// most restMax after the first copy.
func TestSyncRestCopies(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	for _, tc := range []struct {
		name    string
		answers []time.Duration // when the responder answers, after the first copy
		want    time.Duration   // when the other copies leave
	}{
		{"no answer", nil, restDelay},
		{"answers before restDelay", []time.Duration{ms(0.2), ms(0.4)}, restDelay},
		{"answers past restDelay", []time.Duration{ms(0.8), ms(1.2)}, ms(1.7)},
		{"answers until past restMax", []time.Duration{ms(0.8), ms(1.2), ms(1.6), ms(2.0), ms(2.4), ms(2.8), ms(3.2), ms(3.6)}, restMax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lan := newFakeLAN()
				cli, r := lan.addHost("cli", 20), lan.addHost("r", 10)
				c, err := r.listen(4, wire.DiscoveryPort, true, r.links, nil)
				if err != nil {
					t.Fatal(err)
				}
				go func() { // answers the first copy of the first round with new names
					buf := make([]byte, 2048)
					n, src, _, idx, err := c.readFrom(buf)
					if err != nil {
						return
					}
					h, _, _ := wire.Parse(buf[:n])
					start := time.Now()
					for i, at := range tc.answers {
						time.Sleep(time.Until(start.Add(at)))
						msg, _ := wire.AppendRecord(nil, wire.TypeAnswer, h.ID, wire.Record{TTL: 120, Port: 9797,
							Service: DefaultService, Instance: fmt.Sprintf("x%d", i)})
						c.writeTo(msg, src, idx)
					}
				}()
				defer c.close()
				b, err := newBrowser(BrowserConfig{}, cli.links, cli)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
				defer cancel()
				found := 0
				b.Browse(ctx, "", func(Instance) { found++ })
				qs := lan.sends(byType(cli, wire.TypeQuery, netip.AddrPort{}))
				if len(qs) != 3 {
					t.Fatalf("%d copies in 10 ms, want one round of 3", len(qs))
				}
				for _, q := range qs[1:] {
					if got := q.at.Sub(qs[0].at); got != tc.want {
						t.Errorf("copy to %v %v after the first, want %v", q.dst, got, tc.want)
					}
				}
				if found != len(tc.answers) {
					t.Errorf("%d found, want %d", found, len(tc.answers))
				}
			})
		})
	}
}
