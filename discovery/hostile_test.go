package discovery

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// Tests of discovery without keys on a hostile LAN (SECURITY.md, "Discovery
// without keys"): a real server srv (198.18.0.10, fe80::a) and an attacker
// that injects forged datagrams into the watcher's or browser's host.

// hostileLAN is the harness of these tests.
type hostileLAN struct {
	t     *testing.T
	lan   *fakeLAN
	srv   *fakeHost
	wh    *fakeHost
	start time.Time
	id    uint64
}

func newHostileLAN(t *testing.T) *hostileLAN {
	lan := newFakeLAN()
	return &hostileLAN{t: t, lan: lan, srv: lan.addHost("srv", 10), wh: lan.addHost("w", 20), id: 1 << 40}
}

func hrec(name string, ttl uint32, addrs ...string) wire.Record {
	r := wire.Record{Service: DefaultService, Instance: name, Port: 9797, TTL: ttl}
	for _, a := range addrs {
		r.Addrs = append(r.Addrs, netip.MustParseAddr(a))
	}
	return r
}

// forge delivers a record datagram of type typ with message ID id (a new
// one when 0) to the watcher host's discovery port, as if from src.
func (h *hostileLAN) forge(typ wire.Type, src string, id uint64, r wire.Record) {
	h.t.Helper()
	if id == 0 {
		h.id++
		id = h.id
	}
	b, err := wire.AppendRecord(nil, typ, id, r)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.lan.inject(h.wh, wire.DiscoveryPort, netip.MustParseAddrPort(src), 2, b) == 0 {
		h.t.Fatalf("forged datagram from %s reached no socket", src)
	}
}

type hev struct {
	name   string
	kind   EventKind
	reason string
	addr   string
	at     time.Duration
}

func (e hev) String() string {
	return fmt.Sprintf("%s %s %s %s @%v", e.kind, e.name, e.reason, e.addr, e.at)
}

// watch runs a passive Watcher on wh until the returned stop is called;
// stop returns the events (time relative to h.start) and its counters.
func (h *hostileLAN) watch() func() ([]hev, WatcherStats) {
	w, err := newWatcher(WatcherConfig{Passive: true}, h.wh.links, h.wh)
	if err != nil {
		h.t.Fatal(err)
	}
	var mu sync.Mutex
	var events []hev
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		w.Watch(ctx, "", func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, hev{e.Instance.Instance, e.Kind, e.Reason, e.Instance.Addrs[0].Addr().String(), e.Time.Sub(h.start)})
		})
	})
	synctest.Wait()
	h.start = time.Now()
	return func() ([]hev, WatcherStats) {
		synctest.Wait()
		cancel()
		wg.Wait()
		w.Close()
		return events, w.Stats()
	}
}

func only(evs []hev, name string) []hev {
	var out []hev
	for _, e := range evs {
		if e.name == name {
			out = append(out, e)
		}
	}
	return out
}

func count(evs []hev, kind EventKind, reason string) int {
	n := 0
	for _, e := range evs {
		if e.kind == kind && e.reason == reason {
			n++
		}
	}
	return n
}

func sameEvents(t *testing.T, got []hev, want ...hev) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
}

// TestSyncWatcherHostile is the table of rules W1 to W5: goodbyes only from
// owner sources, first-come names, takeover after 5/6 of a TTL of silence,
// eviction of unconfirmed entries first, the TTL cap.
func TestSyncWatcherHostile(t *testing.T) {
	const s = time.Second
	kitchen := AnnouncerConfig{Port: 9797, Instance: "kitchen", TTL: 120 * s}
	cases := []struct {
		name string
		run  func(t *testing.T, h *hostileLAN, stop func() ([]hev, WatcherStats))
	}{
		{"W1 goodbye from another address is ignored", func(t *testing.T, h *hostileLAN, stop func() ([]hev, WatcherStats)) {
			_, stopSrv := runFake(t, h.srv, kitchen)
			defer stopSrv()
			time.Sleep(s)
			h.forge(wire.TypeGoodbye, "198.18.0.66:9798", 0, hrec("kitchen", 0, "198.18.0.10"))
			h.forge(wire.TypeAnnounce, "198.18.0.66:9798", 0, hrec("kitchen", 0, "198.18.0.10")) // TTL 0 = goodbye
			time.Sleep(59 * s)
			evs, st := stop()
			sameEvents(t, evs, hev{"kitchen", Up, "announce", "198.18.0.10", 0})
			if st.ForeignGoodbyes != 2 {
				t.Errorf("ForeignGoodbyes %d, want 2", st.ForeignGoodbyes)
			}
		}},
		{"W1 goodbye from the spoofed owner address removes it (limit)", func(t *testing.T, h *hostileLAN, stop func() ([]hev, WatcherStats)) {
			_, stopSrv := runFake(t, h.srv, kitchen)
			defer stopSrv()
			time.Sleep(s)
			h.forge(wire.TypeGoodbye, "198.18.0.10:9798", 0, hrec("kitchen", 0, "198.18.0.10"))
			time.Sleep(s)
			evs, _ := stop()
			sameEvents(t, evs, hev{"kitchen", Up, "announce", "198.18.0.10", 0}, hev{"kitchen", Down, "goodbye", "198.18.0.10", s})
		}},
		{"W1 goodbye from the owner's IPv6 address listed in its record", func(t *testing.T, h *hostileLAN, stop func() ([]hev, WatcherStats)) {
			_, stopSrv := runFake(t, h.srv, kitchen)
			defer stopSrv()
			time.Sleep(s)
			h.forge(wire.TypeGoodbye, "[fe80::a%eth0]:9798", 0, hrec("kitchen", 0))
			time.Sleep(s)
			evs, _ := stop()
			sameEvents(t, evs, hev{"kitchen", Up, "announce", "198.18.0.10", 0}, hev{"kitchen", Down, "goodbye", "198.18.0.10", s})
		}},
		{"W1 a record without addresses is owned by its source", func(t *testing.T, h *hostileLAN, stop func() ([]hev, WatcherStats)) {
			h.forge(wire.TypeAnnounce, "198.18.0.66:9798", 0, hrec("bare", 60))
			time.Sleep(s)
			h.forge(wire.TypeGoodbye, "198.18.0.67:9798", 0, hrec("bare", 0))
			h.forge(wire.TypeGoodbye, "198.18.0.66:9798", 0, hrec("bare", 0))
			evs, st := stop()
			sameEvents(t, evs, hev{"bare", Up, "announce", "198.18.0.66", 0}, hev{"bare", Down, "goodbye", "198.18.0.66", s})
			if st.ForeignGoodbyes != 1 {
				t.Errorf("ForeignGoodbyes %d, want 1", st.ForeignGoodbyes)
			}
		}},
		{"W2 a forged announcement of a live name changes nothing", func(t *testing.T, h *hostileLAN, stop func() ([]hev, WatcherStats)) {
			_, stopSrv := runFake(t, h.srv, kitchen)
			defer stopSrv()
			time.Sleep(s)
			for range 5 {
				h.forge(wire.TypeAnnounce, "198.18.0.66:9798", 0, hrec("kitchen", 120, "198.18.0.66"))
				time.Sleep(400 * time.Millisecond)
			}
			evs, st := stop()
			sameEvents(t, evs, hev{"kitchen", Up, "announce", "198.18.0.10", 0})
			if st.Conflicts != 5 {
				t.Errorf("Conflicts %d, want 5", st.Conflicts)
			}
		}},
		{"W2 first come: a forger that keeps announcing keeps the name", func(t *testing.T, h *hostileLAN, stop func() ([]hev, WatcherStats)) {
			h.forge(wire.TypeAnnounce, "198.18.0.66:9798", 0, hrec("kitchen", 120, "198.18.0.66"))
			time.Sleep(s)
			_, stopSrv := runFake(t, h.srv, kitchen)
			defer stopSrv()
			for range 7 {
				time.Sleep(29 * s)
				h.forge(wire.TypeAnnounce, "198.18.0.66:9798", 0, hrec("kitchen", 120, "198.18.0.66"))
			}
			evs, st := stop()
			sameEvents(t, evs, hev{"kitchen", Up, "announce", "198.18.0.66", 0})
			if st.Conflicts == 0 {
				t.Error("no conflict counted")
			}
		}},
		{"W3 a silent owner loses the name after 5/6 of its TTL", func(t *testing.T, h *hostileLAN, stop func() ([]hev, WatcherStats)) {
			// The owner refreshes every 2/3 of its TTL (80 s) and is asked
			// at 80 % (96 s): another source takes the name only after
			// 100 s of silence.
			h.forge(wire.TypeAnnounce, "198.18.0.66:9798", 0, hrec("kitchen", 120, "198.18.0.66"))
			time.Sleep(80 * s)
			h.forge(wire.TypeAnnounce, "198.18.0.10:9798", 0, hrec("kitchen", 120, "198.18.0.10"))
			time.Sleep(21 * s)
			h.forge(wire.TypeAnnounce, "198.18.0.10:9798", 0, hrec("kitchen", 120, "198.18.0.10"))
			evs, st := stop()
			sameEvents(t, evs, hev{"kitchen", Up, "announce", "198.18.0.66", 0}, hev{"kitchen", Update, "announce", "198.18.0.10", 101 * s})
			if st.Conflicts != 1 {
				t.Errorf("%d conflicts, want 1 (the announcement at 80 s)", st.Conflicts)
			}
		}},
		{"W4 4200 forged names do not hide a real server", func(t *testing.T, h *hostileLAN, stop func() ([]hev, WatcherStats)) {
			forged := func(from int) {
				for i := from; i < from+4200; i++ {
					src := fmt.Sprintf("198.18.%d.%d:9798", 1+i/256%16, i%256)
					h.forge(wire.TypeAnnounce, src, 0, hrec(fmt.Sprintf("f%04d", i), 1<<32-1))
					if i%256 == 255 {
						synctest.Wait() // let the watcher read its queue
					}
				}
				synctest.Wait()
			}
			forged(0)
			_, stopSrv := runFake(t, h.srv, kitchen)
			defer stopSrv()
			time.Sleep(s)
			forged(5000)
			time.Sleep(s)
			evs, st := stop()
			sameEvents(t, only(evs, "kitchen"), hev{"kitchen", Up, "announce", "198.18.0.10", 0})
			if n := count(evs, Down, "evicted"); n != 104+1+4200 || st.Evicted != uint64(n) {
				t.Errorf("%d evicted events, Evicted %d; want %d", n, st.Evicted, 104+1+4200)
			}
			if evs[maxWatched].name != "f0000" || evs[maxWatched].kind != Down {
				t.Errorf("first eviction %v, want the oldest forged name f0000", evs[maxWatched])
			}
		}},
		{"W4 limit: confirmed forgeries fill the table", func(t *testing.T, h *hostileLAN, stop func() ([]hev, WatcherStats)) {
			for i := range maxWatched {
				src := fmt.Sprintf("198.18.%d.%d:9798", 1+i/256, i%256)
				h.forge(wire.TypeAnnounce, src, 0, hrec(fmt.Sprintf("f%04d", i), 600))
				h.forge(wire.TypeAnnounce, src, 0, hrec(fmt.Sprintf("f%04d", i), 600))
				if i%128 == 127 {
					synctest.Wait()
				}
			}
			synctest.Wait()
			_, stopSrv := runFake(t, h.srv, kitchen)
			defer stopSrv()
			time.Sleep(s)
			evs, st := stop()
			if k := only(evs, "kitchen"); len(k) != 0 || st.Ignored == 0 {
				t.Errorf("kitchen events %v, Ignored %d: want none (documented limit: a table full of confirmed forgeries)", k, st.Ignored)
			}
		}},
		{"W4 one source holds at most 512 unconfirmed names", func(t *testing.T, h *hostileLAN, stop func() ([]hev, WatcherStats)) {
			for i := range 1000 {
				h.forge(wire.TypeAnnounce, "198.18.0.66:9798", 0, hrec(fmt.Sprintf("f%04d", i), 600))
				if i%128 == 127 {
					synctest.Wait()
				}
			}
			synctest.Wait()
			_, stopSrv := runFake(t, h.srv, kitchen)
			defer stopSrv()
			time.Sleep(s)
			evs, st := stop()
			if n := count(evs, Up, "announce"); n != maxUnconfirmedPerSource+1 || st.Ignored != 1000-maxUnconfirmedPerSource {
				t.Errorf("%d up events, Ignored %d; want %d and %d", n, st.Ignored, maxUnconfirmedPerSource+1, 1000-maxUnconfirmedPerSource)
			}
			sameEvents(t, only(evs, "kitchen"), hev{"kitchen", Up, "announce", "198.18.0.10", 0})
		}},
		{"W4 copies of one announcement (one message ID) do not confirm", func(t *testing.T, h *hostileLAN, stop func() ([]hev, WatcherStats)) {
			h.forge(wire.TypeAnnounce, "198.18.0.66:9798", 7, hrec("copies", 600, "198.18.0.66", "fe80::42"))
			h.forge(wire.TypeAnnounce, "198.18.0.66:9798", 7, hrec("copies", 600, "198.18.0.66", "fe80::42"))
			h.forge(wire.TypeAnnounce, "[fe80::42%eth0]:9798", 7, hrec("copies", 600, "198.18.0.66", "fe80::42"))
			h.forge(wire.TypeAnnounce, "198.18.0.67:9798", 8, hrec("twice", 600, "198.18.0.67"))
			h.forge(wire.TypeAnnounce, "198.18.0.67:9798", 9, hrec("twice", 600, "198.18.0.67"))
			synctest.Wait()
			for i := range maxWatched - 1 {
				h.forge(wire.TypeAnnounce, fmt.Sprintf("198.18.%d.%d:9798", 1+i/256, i%256), 0, hrec(fmt.Sprintf("f%04d", i), 600))
				if i%128 == 127 {
					synctest.Wait()
				}
			}
			evs, _ := stop()
			sameEvents(t, only(evs, "copies"), hev{"copies", Up, "announce", "198.18.0.66", 0}, hev{"copies", Down, "evicted", "198.18.0.66", 0})
			sameEvents(t, only(evs, "twice"), hev{"twice", Up, "announce", "198.18.0.67", 0})
		}},
		{"W5 a TTL of 2^32-1 s lasts 24 h", func(t *testing.T, h *hostileLAN, stop func() ([]hev, WatcherStats)) {
			h.forge(wire.TypeAnnounce, "198.18.0.66:9798", 0, hrec("big", 1<<32-1, "198.18.0.66"))
			time.Sleep(25 * time.Hour)
			evs, _ := stop()
			sameEvents(t, evs, hev{"big", Up, "announce", "198.18.0.66", 0}, hev{"big", Down, "expired", "198.18.0.66", MaxTTL})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHostileLAN(t)
				stop := h.watch()
				c.run(t, h, stop)
			})
		})
	}
}

// TestSyncBrowserHostile is the table of rules B1 to B3: an attacker that
// sees every query (they are broadcast and multicast) answers each at once,
// as the real server answers the querier (only its shared copy waits), so
// either may be heard first: a conflict must be reported whichever it is.
func TestSyncBrowserHostile(t *testing.T) {
	type want struct {
		addr     string // first address reported
		conflict bool
		others   string
		ttl      time.Duration
		foreign  bool // ForeignAnswers > 0
	}
	cases := []struct {
		name   string
		srv    bool   // the real server runs
		src    string // the attacker's source address; "" for none
		forged wire.Record
		want   want
		alt    *want // also right: the real server was heard first
	}{
		{"B1 a forger answering with the server is reported as a conflict", true, "198.18.0.66", hrec("kitchen", 120, "198.18.0.66"),
			want{"198.18.0.66", true, "[198.18.0.10:9797]", 120 * time.Second, false},
			&want{"198.18.0.10", true, "[198.18.0.66:9797]", 120 * time.Second, false}},
		{"B2 a forger naming the real server's address is dropped", true, "198.18.0.66", hrec("kitchen", 120, "198.18.0.10"),
			want{"198.18.0.10", false, "[]", 120 * time.Second, true}, nil},
		{"B1 a forger listing no address is a conflict", true, "198.18.0.66", hrec("kitchen", 120),
			want{"198.18.0.66", true, "[198.18.0.10:9797]", 120 * time.Second, false},
			&want{"198.18.0.10", true, "[198.18.0.66:9797]", 120 * time.Second, false}},
		{"B1 the real server alone: no conflict", true, "", wire.Record{},
			want{"198.18.0.10", false, "[]", 120 * time.Second, false}, nil},
		{"B3 a TTL of 2^32-1 s is reported as 24 h", false, "198.18.0.66", hrec("kitchen", 1<<32-1, "198.18.0.66"),
			want{"198.18.0.66", false, "[]", MaxTTL, false}, nil},
		{"limit: a forger spoofing the server's address and listing both", true, "198.18.0.10", hrec("kitchen", 120, "198.18.0.10", "198.18.0.66"),
			want{"198.18.0.10", false, "[]", 120 * time.Second, false}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for run := range 5 {
				synctest.Test(t, func(t *testing.T) {
					h := newHostileLAN(t)
					h.lan.tap = make(chan fakeSend, 1024)
					if c.srv {
						_, stop := runFake(t, h.srv, AnnouncerConfig{Port: 9797, Instance: "kitchen", TTL: 120 * time.Second})
						defer stop()
						time.Sleep(time.Second) // past the start burst
					}
					actx, acancel := context.WithCancel(context.Background())
					var awg sync.WaitGroup
					defer func() { acancel(); awg.Wait() }()
					if c.src != "" {
						awg.Go(func() {
							for {
								select {
								case <-actx.Done():
									return
								case s := <-h.lan.tap:
									if s.from != h.wh || s.h.Type != wire.TypeQuery || !s.src.Addr().Is4() || s.dst.Addr() != wire.DiscoveryGroup4 {
										continue
									}
									b, _ := wire.AppendRecord(nil, wire.TypeAnswer, s.h.ID, c.forged)
									h.lan.inject(h.wh, int(s.src.Port()), netip.AddrPortFrom(netip.MustParseAddr(c.src), 9798), 2, b)
								}
							}
						})
					}
					b, err := newBrowser(BrowserConfig{}, h.wh.links, h.wh)
					if err != nil {
						t.Fatal(err)
					}
					defer b.Close()
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					defer cancel()
					var got []Instance
					b.Browse(ctx, "", func(in Instance) { got = append(got, in) })
					if len(got) != 1 {
						t.Fatalf("run %d: %d reports %+v, want 1", run, len(got), got)
					}
					in := got[0]
					g := want{in.Addrs[0].Addr().String(), in.Conflict, fmt.Sprint(in.Others), in.TTL, b.Stats().ForeignAnswers > 0}
					if g != c.want && (c.alt == nil || g != *c.alt) {
						t.Errorf("run %d: reported %+v, want %+v", run, g, c.want)
					}
					if c.srv && c.src == "" && in.FoundAfter > answerHold+5*time.Millisecond {
						t.Errorf("found after %v, want within the hold and the answer delay", in.FoundAfter)
					}
				})
			}
		})
	}
}

// TestBrowserConflictAnyOrder is rule B1 for every order in which a real
// server's IPv4 and IPv6 answers and a forger's IPv4 answer can arrive:
// the report is a conflict, and the reported and the other addresses are
// those of the two servers, one each.
func TestBrowserConflictAnyOrder(t *testing.T) {
	v4 := heard{from: netip.MustParseAddrPort("198.18.0.10:9797"), iface: "eth0",
		owners: addrs("198.18.0.10", "fe80::a")}
	v6 := heard{from: netip.MustParseAddrPort("[fe80::a%eth0]:9797"), iface: "eth0",
		owners: addrs("fe80::a", "198.18.0.10")}
	forger := heard{from: netip.MustParseAddrPort("198.18.0.66:9797"), iface: "eth0", owners: addrs("198.18.0.66")}
	bare6 := heard{from: netip.MustParseAddrPort("[fe80::a%eth0]:9797"), iface: "eth0", owners: addrs("fe80::a")}
	other := heard{from: netip.MustParseAddrPort("198.18.0.66:9797"), iface: "eth1", owners: addrs("198.18.0.66")}
	cases := []struct {
		name     string
		order    []heard
		conflict bool
		others   string
	}{
		{"forger, v4, v6", []heard{forger, v4, v6}, true, "[198.18.0.10:9797]"},
		{"forger, v6, v4", []heard{forger, v6, v4}, true, "[198.18.0.10:9797]"},
		{"v4, forger, v6", []heard{v4, forger, v6}, true, "[198.18.0.66:9797]"},
		{"v4, v6, forger", []heard{v4, v6, forger}, true, "[198.18.0.66:9797]"},
		{"v6, forger, v4", []heard{v6, forger, v4}, true, "[198.18.0.66:9797]"},
		{"v6, v4, forger", []heard{v6, v4, forger}, true, "[198.18.0.66:9797]"},
		{"forger, v6 only", []heard{forger, v6}, true, "[[fe80::a%eth0]:9797]"},
		{"the server alone", []heard{v6, v4, v4, v6}, false, "[]"},
		// A record listing no IPv4 address says nothing about an IPv4
		// source: only the server's own IPv4 answer shows the conflict.
		{"v6 listing no IPv4, forger", []heard{bare6, forger}, false, "[]"},
		{"v6 listing no IPv4, forger, v4", []heard{bare6, forger, v4}, true, "[198.18.0.66:9797]"},
		{"another interface", []heard{v4, other}, false, "[]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &found{}
			conflict := false
			for _, n := range c.order {
				_, cf := f.hear(n)
				conflict = conflict || cf
			}
			if conflict != c.conflict || fmt.Sprint(f.others) != c.others {
				t.Errorf("conflict %v, others %v; want %v, %s", conflict, f.others, c.conflict, c.others)
			}
		})
	}
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}
