package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/udpkit/udpkit/netif"
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

// fullNet is a network whose ephemeral-port sockets, while full is set,
// fail every unicast write as a socket whose send buffer stays full does
// (sock.go, sendWait), counting the tries; broadcast and group writes and
// the discovery-port sockets work.
type fullNet struct {
	network
	full  atomic.Bool
	tries atomic.Int64
}

func (n *fullNet) listen(family int, port int, shared bool, links []netif.Interface, log *slog.Logger) (pconn, error) {
	p, err := n.network.listen(family, port, shared, links, log)
	if err != nil || shared {
		return p, err
	}
	return &fullConn{pconn: p, n: n}, nil
}

type fullConn struct {
	pconn
	n *fullNet
}

func (c *fullConn) writeTo(b []byte, dst netip.AddrPort, ifIndex int) error {
	a := dst.Addr().WithZone("")
	if c.n.full.Load() && !a.IsMulticast() && a != netip.MustParseAddr("198.18.0.255") {
		c.n.tries.Add(1)
		return fmt.Errorf("fake: write: %w", os.ErrDeadlineExceeded)
	}
	return c.pconn.writeTo(b, dst, ifIndex)
}

// TestSyncAnswerWhenSendBufferFull: while the server's unicast socket
// cannot queue a datagram (its buffer held by answers to spoofed addresses
// waiting for ARP), an answer goes to the querier's port at the broadcast
// address (IPv4) or ff02::1 (IPv6) from the discovery-port socket, one
// datagram per answer, and the unicast socket is not tried again for
// answers within fullPause; the browser finds the server. A querier that
// is not on the link gets nothing.
func TestSyncAnswerWhenSendBufferFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newFakeLAN()
		srvHost, wh := lan.addHost("srv", 10), lan.addHost("w", 20)
		nw := &fullNet{network: srvHost}
		a, err := newAnnouncer(AnnouncerConfig{Port: 9797, Instance: "kitchen", TTL: time.Hour}, srvHost.links, nw)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		time.Sleep(time.Second)
		nw.full.Store(true)

		b, err := newBrowser(BrowserConfig{}, wh.links, wh)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		bctx, bcancel := context.WithTimeout(context.Background(), time.Second)
		var got []Instance
		b.Browse(bctx, "", func(in Instance) { got = append(got, in) })
		bcancel()
		if len(got) != 1 || got[0].Instance != "kitchen" || got[0].Conflict {
			t.Fatalf("browse with the server's unicast socket full: %+v", got)
		}
		answers := lan.sends(byType(srvHost, wire.TypeAnswer, netip.AddrPort{}))
		if len(answers) == 0 {
			t.Fatal("no answer went out")
		}
		for _, s := range answers {
			d := s.dst.Addr().WithZone("")
			if d != netip.MustParseAddr("198.18.0.255") && d != allNodes || s.src.Port() != wire.DiscoveryPort {
				t.Errorf("answer to %v from %v: want the broadcast address or ff02::1, from the discovery port", s.dst, s.src)
			}
		}
		st := a.Stats()
		if st.Answers != uint64(len(answers)) || st.SendBufferFull != 0 {
			t.Errorf("%d answers sent, stats %+v", len(answers), st)
		}
		// One failed try per family, then a pause: not one per answer.
		if n := nw.tries.Load(); n < 1 || n > 2 {
			t.Errorf("%d unicast tries for %d answers within the pause, want 1 or 2 (one per family)", n, len(answers))
		}

		// A querier off the link: no broadcast for it, the answer is
		// counted as not sent.
		q, _ := wire.AppendQuery(nil, 1<<45, wire.Query{}, DefaultQuerySize)
		lan.inject(srvHost, wire.DiscoveryPort, netip.MustParseAddrPort("203.0.113.7:5353"), 2, q)
		synctest.Wait()
		if st := a.Stats(); st.SendBufferFull != 1 || st.Answers != uint64(len(answers)) {
			t.Errorf("off-link querier while full: stats %+v", st)
		}
		if n := len(lan.sends(byType(srvHost, wire.TypeAnswer, netip.AddrPort{}))); n != len(answers) {
			t.Errorf("%d answers, want %d: an off-link querier got one", n, len(answers))
		}
	})
}
