package multicast_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/multicast"
	"github.com/udpkit/udpkit/wire"
)

// Every test in this file sends multicast, so it runs only inside the
// namespaces of a netlab LAN and skips without root.

func newLab(t *testing.T, cfg netlab.Config) *netlab.Lab {
	t.Helper()
	if err := netlab.Available(); err != nil {
		t.Skip("multicast tests need a namespace LAN:", err)
	}
	lab, err := netlab.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	return lab
}

// participant is one host's part in a lab test.
type participant struct {
	host  *netlab.Host
	cfg   multicast.TestConfig
	peers []*netlab.Host
}

// runLab runs one test per participant at the same time, each with the
// others as peers, and returns the reports by host index.
func runLab(t *testing.T, group netip.AddrPort, v6 bool, ps []participant) map[int]*multicast.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	tests := make([]*multicast.Test, len(ps))
	for i, p := range ps {
		cfg := p.cfg
		for _, o := range p.peers {
			a := o.IPv4
			if v6 {
				a = o.IPv6
			}
			cfg.Peers = append(cfg.Peers, netip.AddrPortFrom(a, group.Port()))
		}
		err := p.host.Do(func() (err error) {
			tests[i], err = multicast.NewTest(ctx, group, cfg)
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", p.host.Name, err)
		}
		t.Cleanup(func() { tests[i].Close() })
	}
	var (
		mu  sync.Mutex
		out = map[int]*multicast.Report{}
		wg  sync.WaitGroup
	)
	for i, tt := range tests {
		wg.Go(func() {
			r := tt.Run(ctx)
			mu.Lock()
			out[ps[i].host.Index] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("tests did not finish in time")
	}
	return out
}

func others(lab *netlab.Lab, n, self int) []*netlab.Host {
	var hs []*netlab.Host
	for i := range n {
		if i != self {
			hs = append(hs, lab.Host(i))
		}
	}
	return hs
}

func peerReport(t *testing.T, r *multicast.Report, addr netip.Addr) multicast.PeerReport {
	t.Helper()
	for _, p := range r.Peers {
		if p.Peer.Addr() == addr {
			return p
		}
	}
	t.Fatalf("no report for peer %v in %+v", addr, r.Peers)
	return multicast.PeerReport{}
}

func TestLabThreeHostsNoLoss(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			lab := newLab(t, netlab.Config{Hosts: 3})
			group := netip.MustParseAddrPort("239.255.77.1:9798")
			if v6 {
				group = netip.MustParseAddrPort("[ff05::7701]:9798")
			}
			var ps []participant
			for i := range 3 {
				ps = append(ps, participant{host: lab.Host(i), peers: others(lab, 3, i),
					cfg: multicast.TestConfig{Count: 50, Interval: 10 * time.Millisecond, Config: multicast.Config{TTL: 4}}})
			}
			reports := runLab(t, group, v6, ps)
			for i := range 3 {
				r := reports[i]
				if len(r.Peers) != 2 {
					t.Errorf("host %d: %d peers, want 2: %+v", i, len(r.Peers), r.Peers)
				}
				for _, p := range r.Peers {
					m, u := p.Multicast, p.Unicast
					t.Logf("host %d -> %v: mcast %d/%d %.1f%% rt %.1f%% ttl %d from %d/%d ttl %d; ucast %d/%d %.1f%%, member %s",
						i, p.Peer, m.Xmt, m.Rcv, m.Loss, m.RoundTripLoss, m.TTLSeen, m.From.Expected, m.From.Received, m.From.TTL,
						u.Xmt, u.Rcv, u.Loss, p.Member)
					if st := p.Status(0); st != multicast.StatusOK {
						t.Errorf("host %d peer %v: status %q", i, p.Peer, st)
					}
					if m.Xmt != 50 || m.Rcv != 50 || u.Xmt != 50 || u.Rcv != 50 {
						t.Errorf("host %d peer %v: want 50/50 both kinds", i, p.Peer)
					}
					if m.TTLSeen != 4 || m.From.TTL != 4 {
						t.Errorf("host %d peer %v: TTL seen %d / %d, want 4 (one segment, no router)", i, p.Peer, m.TTLSeen, m.From.TTL)
					}
					if m.From.Received != 50 || m.From.Loss != 0 {
						t.Errorf("host %d peer %v: received %d of the peer's multicast probes, want 50", i, p.Peer, m.From.Received)
					}
				}
				if !r.OK(0) {
					t.Errorf("host %d: report not OK", i)
				}
			}
		})
	}
}

// TestLabLoss injects 20% frame loss at the bridge and checks the one-way
// multicast loss each host reports towards each peer. With n = 200 probes
// and p = 0.2, the standard deviation of the measured loss is
// sqrt(p(1-p)/n) = 2.8 percentage points; the tolerance is 4 of them,
// ±11.3 points (a false failure about once in 15 000 runs per figure).
func TestLabLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("loss test sends 200 probes per host")
	}
	const (
		n    = 200
		loss = 20
	)
	tol := 4 * 100 * math.Sqrt(0.2*0.8/n)
	lab := newLab(t, netlab.Config{Hosts: 3})
	// Prime ARP before dropping frames.
	runLab(t, netip.MustParseAddrPort("239.255.77.2:9799"), false, []participant{
		{host: lab.Host(0), peers: others(lab, 3, 0), cfg: multicast.TestConfig{Count: 2, Interval: 10 * time.Millisecond}},
		{host: lab.Host(1), peers: others(lab, 3, 1), cfg: multicast.TestConfig{Count: 2, Interval: 10 * time.Millisecond}},
		{host: lab.Host(2), peers: others(lab, 3, 2), cfg: multicast.TestConfig{Count: 2, Interval: 10 * time.Millisecond}},
	})
	if err := lab.SetLoss(loss); err != nil {
		t.Skip("cannot inject loss:", err)
	}
	var ps []participant
	for i := range 3 {
		ps = append(ps, participant{host: lab.Host(i), peers: others(lab, 3, i),
			cfg: multicast.TestConfig{Count: n, Interval: 10 * time.Millisecond, StartWait: 10 * time.Second}})
	}
	reports := runLab(t, netip.MustParseAddrPort("239.255.77.3:9800"), false, ps)
	for i := range 3 {
		for _, p := range reports[i].Peers {
			m, u := p.Multicast, p.Unicast
			t.Logf("host %d -> %v: multicast %d/%d %.1f%% (round trip %.1f%%, from peer %.1f%%), unicast %d/%d %.1f%% (round trip %.1f%%)",
				i, p.Peer, m.Xmt, m.Rcv, m.Loss, m.RoundTripLoss, m.From.Loss, u.Xmt, u.Rcv, u.Loss, u.RoundTripLoss)
			for name, v := range map[string]float64{"multicast": m.Loss, "multicast from peer": m.From.Loss, "unicast": u.Loss} {
				if math.Abs(v-loss) > tol {
					t.Errorf("host %d peer %v: %s loss %.1f%%, want %d%% ± %.1f", i, p.Peer, name, v, loss, tol)
				}
			}
			if m.Xmt < n*9/10 {
				t.Errorf("host %d peer %v: only %d of %d probes covered", i, p.Peer, m.Xmt, n)
			}
		}
		if reports[i].OK(5) {
			t.Errorf("host %d: OK at 5%% max loss with %d%% loss", i, loss)
		}
	}
}

// TestLabNotJoined runs three members and a fourth host that does not
// join: the members report it as not joined (unicast 0% loss, multicast
// 100%) and it reports them on unicast only.
func TestLabNotJoined(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 4})
	group := netip.MustParseAddrPort("239.255.77.4:9801")
	var ps []participant
	for i := range 4 {
		cfg := multicast.TestConfig{Count: 30, Interval: 10 * time.Millisecond}
		cfg.NoJoin = i == 3
		ps = append(ps, participant{host: lab.Host(i), peers: others(lab, 4, i), cfg: cfg})
	}
	reports := runLab(t, group, false, ps)
	for i := range 3 {
		r := reports[i]
		p := peerReport(t, r, lab.Host(3).IPv4)
		if p.Member != "no" || p.Status(5) != multicast.StatusNotJoined {
			t.Errorf("host %d: non-member reported as member=%s status=%s", i, p.Member, p.Status(5))
		}
		if p.Multicast.Loss != 100 || p.Unicast.Loss != 0 || p.Unicast.Rcv != 30 {
			t.Errorf("host %d: non-member: multicast %.0f%% unicast %.0f%% (%d rcv), want 100%% and 0%%",
				i, p.Multicast.Loss, p.Unicast.Loss, p.Unicast.Rcv)
		}
		if r.OK(5) {
			t.Errorf("host %d: OK with a non-member peer", i)
		}
		for j := range 3 {
			if j != i {
				if q := peerReport(t, r, lab.Host(j).IPv4); q.Status(0) != multicast.StatusOK {
					t.Errorf("host %d peer %d: %s", i, j, q.Status(0))
				}
			}
		}
	}
	r := reports[3]
	if r.Joined {
		t.Error("non-member says it joined")
	}
	for _, p := range r.Peers {
		if p.Multicast != nil || p.Unicast.Loss != 0 || p.Status(0) != multicast.StatusOK {
			t.Errorf("non-member's view of %v: %+v", p.Peer, p)
		}
	}
}

// TestLabListenSend checks the socket layer: a datagram sent to the group
// arrives with the group as destination, the arrival interface and the TTL
// the sender set (no router in between), for IPv4 and IPv6; another group
// on the same port is not delivered.
func TestLabListenSend(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	for _, tc := range []struct{ group, other string }{
		{"239.255.77.5:9802", "239.255.77.6:9802"},
		{"[ff02::7705]:9802", "[ff02::7706]:9802"},
	} {
		t.Run(tc.group, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			group := netip.MustParseAddrPort(tc.group)
			other := netip.MustParseAddrPort(tc.other)
			var rx, rxOther, tx *multicast.Conn
			err := lab.Host(0).Do(func() (err error) {
				if rx, err = multicast.Listen(ctx, group, multicast.Config{ReuseAddr: true}); err != nil {
					return err
				}
				rxOther, err = multicast.Listen(ctx, other, multicast.Config{ReuseAddr: true})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			defer rx.Close()
			defer rxOther.Close()
			if err := lab.Host(1).Do(func() (err error) {
				tx, err = multicast.Dial(ctx, group, multicast.Config{TTL: 7})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer tx.Close()
			var txOther *multicast.Conn
			if err := lab.Host(1).Do(func() (err error) {
				txOther, err = multicast.Dial(ctx, other, multicast.Config{TTL: 7})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer txOther.Close()
			// The other group first: rx must skip it.
			if _, err := txOther.WriteGroup([]byte("other")); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.WriteGroup([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1500)
			p, err := rx.Read(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if string(b[:p.N]) != "hello" || !p.Multicast || p.Dst != group.Addr() || p.Interface != "eth0" || p.TTL != 7 {
				t.Errorf("got %q %+v", b[:p.N], p)
			}
			if p.Src.Port() != tx.LocalAddr().Port() {
				t.Errorf("source port %d, want %d", p.Src.Port(), tx.LocalAddr().Port())
			}
			p, err = rxOther.Read(ctx, b)
			if err != nil || string(b[:p.N]) != "other" {
				t.Errorf("other group: %q %v", b[:p.N], err)
			}
			if rx.Dropped() != 0 {
				t.Logf("rx dropped %d datagrams of the other group (IP_MULTICAST_ALL not honoured)", rx.Dropped())
			}
		})
	}
}

// TestLabNoReflection: hosts 0 and 1 test the group, listing each other.
// Host 2, listed by nobody, sends counted probes to the group: no member
// answers it (a spoofed source would otherwise get one reply per member).
// After host 2 introduces itself with a unicast hello to host 0, host 0
// answers it, within its reply budget.
func TestLabNoReflection(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 3})
	group := netip.MustParseAddrPort("239.255.77.9:9803")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var attacker *multicast.Conn
	if err := lab.Host(2).Do(func() (err error) {
		attacker, err = multicast.Dial(ctx, group, multicast.Config{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	tests := make([]*multicast.Test, 2)
	for i := range 2 {
		cfg := multicast.TestConfig{Count: 100, Interval: 20 * time.Millisecond,
			Peers: []netip.AddrPort{netip.AddrPortFrom(lab.Host(1-i).IPv4, group.Port())}}
		if err := lab.Host(i).Do(func() (err error) {
			tests[i], err = multicast.NewTest(ctx, group, cfg)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tests[i].Close() })
	}
	reports := make([]*multicast.Report, 2)
	var wg sync.WaitGroup
	for i, tt := range tests {
		wg.Go(func() { reports[i] = tt.Run(ctx) })
	}
	// replies counts the replies host 2 gets within d.
	b := make([]byte, 1500)
	replies := func(d time.Duration) map[netip.Addr]int {
		rctx, rcancel := context.WithTimeout(ctx, d)
		defer rcancel()
		got := map[netip.Addr]int{}
		for {
			p, err := attacker.Read(rctx, b)
			if err != nil {
				return got
			}
			if h, body, err := wire.Parse(b[:p.N]); err == nil && h.Type == wire.TypeReply {
				if _, err := wire.ParseReply(h, body); err != nil {
					continue
				}
				got[p.Src.Addr()]++
			}
		}
	}
	pr := wire.Probe{Session: 0x5f00f, Kind: wire.KindMulticast, Count: 100, TTL: 1}
	for seq := uint32(1); seq <= 20; seq++ {
		pr.Seq = seq
		if _, err := attacker.WriteGroup(wire.AppendProbe(nil, pr)); err != nil {
			t.Fatal(err)
		}
	}
	if got := replies(300 * time.Millisecond); len(got) != 0 {
		t.Errorf("20 group probes from an unknown source drew replies: %v", got)
	}
	hello := wire.Probe{Session: 0x5f00f, Kind: wire.KindUnicast, Count: 100}
	if err := attacker.WriteTo(wire.AppendProbe(nil, hello), netip.AddrPortFrom(lab.Host(0).IPv4, group.Port())); err != nil {
		t.Fatal(err)
	}
	for seq := uint32(21); seq <= 120; seq++ {
		pr.Seq = seq
		attacker.WriteGroup(wire.AppendProbe(nil, pr))
	}
	got := replies(300 * time.Millisecond)
	if got[lab.Host(1).IPv4] != 0 || got[lab.Host(0).IPv4] == 0 || got[lab.Host(0).IPv4] > 60 {
		t.Errorf("after a unicast hello to host 0 and 100 group probes: replies %v, want some from host 0 only, rate-limited", got)
	}
	wg.Wait()
	t.Logf("replies after the hello: %v; host 0 ignored %d, rate-limited %d; host 1 ignored %d from %d sources",
		got, reports[0].Ignored, reports[0].RateLimited, reports[1].Ignored, reports[1].IgnoredSources)
	if reports[1].Ignored < 100 || reports[1].IgnoredSources != 1 || reports[0].RateLimited == 0 {
		t.Errorf("reports: host 0 %+v, host 1 %+v", reports[0], reports[1])
	}
	p := peerReport(t, reports[1], lab.Host(0).IPv4)
	if p.Status(0) != multicast.StatusOK {
		t.Errorf("host 1 -> host 0: %s", p.Status(0))
	}
}

// bridgeNS returns the lab's switch namespace.
func bridgeNS(t *testing.T, lab *netlab.Lab) string {
	t.Helper()
	for _, ns := range lab.Namespaces() {
		if strings.HasSuffix(ns, "-br") {
			return ns
		}
	}
	t.Fatal("no bridge namespace")
	return ""
}

// TestLabGroupStops: the group stops working halfway (the IGMP snooping
// timeout omping is used to catch: an nft rule on the bridge drops the
// group from host 0's 20th probe from the peer on), or the peer is killed
// after its 20th probe. Both sides must count every probe they sent and
// report the loss: before, xmt stopped at the last answered probe (0%).
func TestLabGroupStops(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	if err := lab.SetLoss(0); err != nil { // creates the nft table
		t.Skip("needs nft:", err)
	}
	const n = 80
	for _, tc := range []struct {
		name  string
		group string
		kill  bool
	}{
		{"group blocked", "239.255.77.10:9805", false},
		{"peer killed", "239.255.77.11:9806", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			group := netip.MustParseAddrPort(tc.group)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			peerCtx, kill := context.WithCancel(ctx)
			defer kill()
			trigger := make(chan struct{}, 1)
			tests := make([]*multicast.Test, 2)
			for i := range 2 {
				cfg := multicast.TestConfig{Count: n, Interval: 20 * time.Millisecond,
					Peers: []netip.AddrPort{netip.AddrPortFrom(lab.Host(1-i).IPv4, group.Port())}}
				if i == 0 {
					cfg.OnEvent = func(e multicast.Event) {
						if !e.Reply && e.Kind == wire.KindMulticast && e.Seq == 20 {
							select {
							case trigger <- struct{}{}:
							default:
							}
						}
					}
				}
				if err := lab.Host(i).Do(func() (err error) {
					tests[i], err = multicast.NewTest(ctx, group, cfg)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { tests[i].Close() })
			}
			reports := make([]*multicast.Report, 2)
			var wg sync.WaitGroup
			wg.Go(func() { reports[0] = tests[0].Run(ctx) })
			wg.Go(func() { reports[1] = tests[1].Run(peerCtx) })
			select {
			case <-trigger:
			case <-ctx.Done():
				t.Fatal("the peer's 20th group probe never came")
			}
			if tc.kill {
				kill()
			} else {
				out, err := exec.Command("ip", "netns", "exec", bridgeNS(t, lab), "nft", "add", "rule", "bridge", "netlab",
					"forward", "ip", "daddr", "239.0.0.0/8", "drop").CombinedOutput()
				if err != nil {
					t.Fatalf("nft: %v %s", err, out)
				}
				t.Cleanup(func() { lab.SetLoss(0) })
			}
			wg.Wait()
			p := peerReport(t, reports[0], lab.Host(1).IPv4)
			m, u := p.Multicast, p.Unicast
			t.Logf("host 0: multicast %d/%d/%.0f%%, from peer %d/%d; unicast %d/%d; status %s",
				m.Xmt, m.Rcv, m.Loss, m.From.Expected, m.From.Received, u.Xmt, u.Rcv, p.Status(5))
			if m.Xmt != n || m.Rcv >= n || m.Loss == 0 || m.First != 1 {
				t.Errorf("host 0 multicast: %d/%d/%.1f%% from seq %d, want %d sent, loss > 0", m.Xmt, m.Rcv, m.Loss, m.First, n)
			}
			if st := p.Status(5); st != multicast.StatusLoss && st != multicast.StatusNoMcast {
				t.Errorf("host 0: status %q", st)
			}
			if reports[0].OK(5) {
				t.Error("host 0: report OK")
			}
			if m.From.Expected != n || m.From.Received >= n {
				t.Errorf("host 0 from peer: %d/%d, want %d expected, some lost", m.From.Expected, m.From.Received, n)
			}
			if tc.kill {
				if u.Xmt != n || u.Rcv >= n {
					t.Errorf("host 0 unicast to the killed peer: %d/%d, want %d sent, some lost", u.Xmt, u.Rcv, n)
				}
				return
			}
			if u.Xmt != n || u.Rcv != n {
				t.Errorf("host 0 unicast: %d/%d, want %d/%d", u.Xmt, u.Rcv, n, n)
			}
			q := peerReport(t, reports[1], lab.Host(0).IPv4)
			t.Logf("host 1: multicast %d/%d/%.0f%%, from peer %d/%d", q.Multicast.Xmt, q.Multicast.Rcv, q.Multicast.Loss,
				q.Multicast.From.Expected, q.Multicast.From.Received)
			if q.Multicast.Xmt != n || q.Multicast.Rcv >= n || reports[1].OK(5) {
				t.Errorf("host 1 multicast: %d/%d, OK %v; want %d sent, loss", q.Multicast.Xmt, q.Multicast.Rcv, reports[1].OK(5), n)
			}
		})
	}
}

// TestLabLinkLocalGroup tests an IPv6 link-local group with the peers
// listed by their global (ULA) addresses: the group probes come from the
// peers' fe80:: addresses and are matched by session.
func TestLabLinkLocalGroup(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	group := netip.MustParseAddrPort("[ff02::7707%eth0]:9807")
	var ps []participant
	for i := range 2 {
		ps = append(ps, participant{host: lab.Host(i), peers: others(lab, 2, i),
			cfg: multicast.TestConfig{Count: 30, Interval: 10 * time.Millisecond}})
	}
	reports := runLab(t, group, true, ps)
	for i := range 2 {
		r := reports[i]
		if len(r.Peers) != 1 || r.Ignored != 0 {
			t.Errorf("host %d: %d peers, %d ignored: %+v", i, len(r.Peers), r.Ignored, r.Peers)
		}
		for _, p := range r.Peers {
			m := p.Multicast
			if m.Xmt != 30 || m.Rcv != 30 || m.From.Received != 30 || p.Status(0) != multicast.StatusOK {
				t.Errorf("host %d -> %v: multicast %d/%d, from %d/%d, status %s", i, p.Peer, m.Xmt, m.Rcv,
					m.From.Expected, m.From.Received, p.Status(0))
			}
		}
	}
}

// TestLabRepeatReceive: Repeat sends count rounds out of each interface,
// Receive stops at its count, at a deadline (context.DeadlineExceeded) and
// reports what it read.
func TestLabRepeatReceive(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	group := netip.MustParseAddrPort("239.255.77.8:9803")
	var rx, tx *multicast.Conn
	if err := lab.Host(0).Do(func() (err error) {
		rx, err = multicast.Listen(ctx, group, multicast.Config{ReuseAddr: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if err := lab.Host(1).Do(func() (err error) {
		tx, err = multicast.Dial(ctx, group, multicast.Config{TTL: 3})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	var sent []multicast.Sent
	st := tx.Repeat(ctx, 3, time.Millisecond, func(seq int) []byte { return fmt.Appendf(nil, "m%d", seq) },
		func(s multicast.Sent) { sent = append(sent, s) })
	if st != (multicast.RepeatStats{Sent: 3, Total: 3}) || len(sent) != 3 || sent[2].Seq != 3 || sent[2].Size != 2 ||
		sent[0].Interface.Name != "eth0" || sent[0].Source.Port() != tx.LocalAddr().Port() || !sent[0].Source.Addr().IsValid() {
		t.Fatalf("Repeat = %+v, sent %+v", st, sent)
	}
	var got []string
	n, err := rx.Receive(ctx, 3, func(p multicast.Packet, b []byte) { got = append(got, string(b)) })
	if n != 3 || err != nil || fmt.Sprint(got) != "[m1 m2 m3]" {
		t.Fatalf("Receive = %d, %v, %q", n, err, got)
	}
	dctx, dcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer dcancel()
	if n, err := rx.Receive(dctx, 0, func(multicast.Packet, []byte) {}); n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Receive at a deadline = %d, %v", n, err)
	}
	ictx, icancel := context.WithCancel(ctx)
	icancel()
	if st := tx.Repeat(ictx, 5, time.Hour, func(int) []byte { return []byte("x") }, func(multicast.Sent) {}); st != (multicast.RepeatStats{Sent: 1, Total: 5, Interrupted: true}) {
		t.Errorf("interrupted Repeat = %+v", st)
	}
}
