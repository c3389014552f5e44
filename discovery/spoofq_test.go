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

// TestSyncSpoofedQueriesDoNotSilence (issue 14 item 3, SECURITY.md
// "Spoofed queries"): a forger that sees the LAN answers every query of a
// browser at once with an ANSWER for the server's instance listing only
// its own address, and sends the server spoofed queries to use up the
// server's answers to the browser, so that the browser hears only the
// forger and reports its claim unmarked. Each of 10 browses (a new
// Browser, new ports) must report the real server, and every report at
// the forger's address must be marked.
//
// The forger's queries:
//   - "browser's address": with the browser's addresses (both families)
//     as their source, from made-up ports, 200 a second per family before
//     and during the browse, and 60 at once from the browser's own port as
//     soon as its first query shows it; the server has no global limit, so
//     only the per-source limit (20 a second) is tested. Keyed by address
//     alone, it was used up before the browser asked.
//   - "many addresses, small queries": 1000 a second from made-up on-link
//     addresses and ports, each just large enough for an answer, which
//     exhaust the global limit (200 a second) for 20 kB/s; the browser's
//     full-size queries draw on the reserve.
func TestSyncSpoofedQueriesDoNotSilence(t *testing.T) {
	for _, mode := range []string{"browser's address", "many addresses, small queries"} {
		t.Run(mode, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { spoofedQueries(t, mode) })
		})
	}
}

func spoofedQueries(t *testing.T, mode string) {
	h := newHostileLAN(t)
	h.lan.tap = make(chan fakeSend, 4096)
	cfg := AnnouncerConfig{Port: 9797, Instance: "kitchen", TTL: 120 * time.Second}
	if mode == "browser's address" {
		cfg.GlobalRate = Rate{PerSecond: -1} // the per-source limit alone
	}
	a, stop := runFake(t, h.srv, cfg)
	defer stop()
	time.Sleep(time.Second) // past the start burst and the peer discovery

	browser4 := h.wh.links[0].IPv4[0].Addr.Addr()
	browser6 := h.wh.links[0].IPv6LinkLocal // with zone, as the server hears it
	forger := netip.MustParseAddrPort("198.18.0.66:9798")
	actx, acancel := context.WithCancel(context.Background())
	var awg sync.WaitGroup
	defer func() { acancel(); awg.Wait() }()
	id := uint64(1 << 50)
	var idMu sync.Mutex
	spoof := func(src netip.AddrPort, size int) {
		idMu.Lock()
		id++
		q, _ := wire.AppendQuery(nil, id, wire.Query{}, size)
		idMu.Unlock()
		h.lan.inject(h.srv, wire.DiscoveryPort, src, 2, q)
	}
	// The background flood.
	awg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-actx.Done():
				return
			case <-tick.C:
			}
			switch mode {
			case "browser's address":
				if n%5 == 0 {
					port := uint16(50000 + n/5%10000)
					spoof(netip.AddrPortFrom(browser4, port), DefaultQuerySize)
					spoof(netip.AddrPortFrom(browser6, port), maxDatagram6)
				}
			default:
				src := netip.AddrFrom4([4]byte{198, 18, 0, byte(100 + n%150)})
				spoof(netip.AddrPortFrom(src, uint16(1024+n%60000)), 160)
			}
		}
	})
	// The forger's answers and its flood of the browser's own ports.
	var answered int
	awg.Go(func() {
		flooded := map[netip.AddrPort]bool{}
		for {
			select {
			case <-actx.Done():
				return
			case s := <-h.lan.tap:
				if s.from != h.wh || s.h.Type != wire.TypeQuery {
					continue
				}
				if mode == "browser's address" && !flooded[s.src] {
					flooded[s.src] = true
					src := s.src
					if src.Addr().Is6() {
						src = netip.AddrPortFrom(src.Addr().WithZone(browser6.Zone()), src.Port())
					}
					for range 60 {
						spoof(src, DefaultQuerySize)
					}
				}
				if s.src.Addr().Is4() {
					b, _ := wire.AppendRecord(nil, wire.TypeAnswer, s.h.ID, hrec("kitchen", 120, forger.Addr().String()))
					h.lan.inject(h.wh, int(s.src.Port()), forger, 2, b)
					answered++
				}
			}
		}
	})

	found := 0
	for run := range 10 {
		b, err := newBrowser(BrowserConfig{}, h.wh.links, h.wh)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		srv := false
		var got []string
		b.Browse(ctx, "", func(in Instance) {
			got = append(got, fmt.Sprintf("%v %v %v", in.Addrs, in.Conflict, in.Others))
			atForger := false
			for _, ap := range in.Addrs {
				if ap.Addr() == forger.Addr() {
					atForger = true
				}
			}
			switch {
			case atForger && (!in.Conflict || len(in.Others) == 0):
				t.Errorf("run %d: the forger's claim reported unmarked: %v", run, in)
			case !atForger && in.Source.Addr().WithZone("") != forger.Addr():
				srv = true
			}
		})
		cancel()
		b.Close()
		if srv {
			found++
		} else {
			t.Errorf("run %d: the real server was not reported (reports %q)", run, got)
		}
	}
	stop()
	acancel()
	awg.Wait()
	st := a.Stats()
	if answered == 0 || st.LimitedSource+st.LimitedGlobal == 0 {
		t.Fatalf("the forger answered %d queries and the server limited %d+%d answers: the test proves nothing", answered, st.LimitedSource, st.LimitedGlobal)
	}
	t.Logf("server found in %d of 10 browses; forger answered %d queries; %+v", found, answered, st)
}
