package multicast_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/multicast"
	"github.com/udpkit/udpkit/wire"
)

// countingSink counts the datagrams and bytes that arrive at a UDP port of
// a lab host, per source address: a reflection victim.
type countingSink struct {
	c     *net.UDPConn
	mu    sync.Mutex
	n     map[netip.Addr]int
	bytes map[netip.Addr]int
	done  chan struct{}
}

func newSink(t *testing.T, h *netlab.Host, port int) *countingSink {
	t.Helper()
	s := &countingSink{n: map[netip.Addr]int{}, bytes: map[netip.Addr]int{}, done: make(chan struct{})}
	if err := h.Do(func() (err error) {
		s.c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.done)
		b := make([]byte, 65536)
		for {
			n, src, err := s.c.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.n[src.Addr().Unmap()]++
			s.bytes[src.Addr().Unmap()] += n
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { s.c.Close(); <-s.done })
	return s
}

func (s *countingSink) from(a netip.Addr) (datagrams, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[a], s.bytes[a]
}

// TestLabOneForgedProbeOneDatagram: a participant introduced by one forged
// unicast PROBE, from the attacker's own address or from a spoofed victim
// address (raw socket), sends at most one datagram there for the rest of
// the test (issue 14: before, it probed the forged address until the end).
// Two honest participants listing each other are unaffected.
func TestLabOneForgedProbeOneDatagram(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 4})
	group := netip.MustParseAddrPort("239.255.77.11:9805")
	const count = 60
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	own := newSink(t, lab.Host(2), 40404)    // the attacker's own socket
	victim := newSink(t, lab.Host(3), 40404) // an innocent host
	tests := make([]*multicast.Test, 2)
	for i := range 2 {
		cfg := multicast.TestConfig{Count: count, Interval: 20 * time.Millisecond,
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
	time.Sleep(200 * time.Millisecond) // the test is under way
	dst := netip.AddrPortFrom(lab.Host(0).IPv4, group.Port())
	var in int
	for i, seq := range []uint32{0, 5} { // a hello and a counted probe
		pr := wire.AppendProbe(nil, wire.Probe{Session: 0x5f00f + uint32(i), Seq: seq, Kind: wire.KindUnicast, Count: 1000})
		in += len(pr)
		if _, err := own.c.WriteToUDPAddrPort(pr, dst); err != nil {
			t.Fatal(err)
		}
		spoofed := wire.AppendProbe(nil, wire.Probe{Session: 0x7f00f + uint32(i), Seq: seq, Kind: wire.KindUnicast, Count: 1000})
		if err := lab.Host(2).SpoofUDP4(netip.AddrPortFrom(lab.Host(3).IPv4, 40404), dst, spoofed); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond)
	for name, s := range map[string]*countingSink{"attacker's own address": own, "spoofed victim": victim} {
		n, b := s.from(lab.Host(0).IPv4)
		t.Logf("%s: 2 forged probes (%d bytes) drew %d datagrams (%d bytes) from the participant", name, in, n, b)
		if n > 2 || b > in {
			t.Errorf("%s: 2 forged probes drew %d datagrams, %d bytes (in: %d bytes); want at most one each, bytes out <= bytes in", name, n, b, in)
		}
	}
	for i, r := range reports {
		p := peerReport(t, r, lab.Host(1-i).IPv4)
		if p.Status(0) != multicast.StatusOK {
			t.Errorf("host %d -> host %d: %s", i, 1-i, p.Status(0))
		}
	}
}

// TestLabAuthenticatedTest: two participants with a key measure as without
// one; unauthenticated probes and probes sealed with another key draw
// nothing and are counted; every datagram they send is sealed.
func TestLabAuthenticatedTest(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 3})
	group := netip.MustParseAddrPort("239.255.77.12:9806")
	keyring := func(id uint16) *auth.Keyring {
		k, err := auth.GenerateKey(id, auth.RoleCurrent)
		if err != nil {
			t.Fatal(err)
		}
		kr, err := auth.NewKeyring(k)
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	keys, other := keyring(1), keyring(2)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	own := newSink(t, lab.Host(2), 40405)
	tests := make([]*multicast.Test, 2)
	for i := range 2 {
		cfg := multicast.TestConfig{Count: 40, Interval: 20 * time.Millisecond, Keys: keys, Size: 200,
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
	time.Sleep(200 * time.Millisecond)
	forger, _ := auth.NewSender(other, auth.SenderConfig{})
	dst := netip.AddrPortFrom(lab.Host(0).IPv4, group.Port())
	for seq := range uint32(10) {
		pr := wire.AppendProbe(nil, wire.Probe{Session: 0x5f00f, Seq: seq, Kind: wire.KindUnicast, Count: 1000})
		own.c.WriteToUDPAddrPort(pr, dst)
		sealed, _ := forger.Sign(pr)
		own.c.WriteToUDPAddrPort(sealed, dst)
	}
	wg.Wait()
	if n, _ := own.from(lab.Host(0).IPv4); n != 0 {
		t.Errorf("forged probes drew %d datagrams", n)
	}
	if reports[0].Unauthenticated < 20 {
		t.Errorf("host 0 counted %d unauthenticated datagrams, want at least the 20 forged", reports[0].Unauthenticated)
	}
	for i, r := range reports {
		p := peerReport(t, r, lab.Host(1-i).IPv4)
		if p.Status(0) != multicast.StatusOK {
			t.Errorf("host %d -> host %d: %s", i, 1-i, p.Status(0))
		}
		t.Logf("host %d: unauthenticated %d, replays %d", i, r.Unauthenticated, r.Replays)
	}
}

// TestLabIntroducedPeerEchoesCookie: a participant that lists nobody
// probes one that introduced itself only after the introducer echoed the
// cookie of its hello's reply, and then measures it as a listed peer.
func TestLabIntroducedPeerEchoesCookie(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	group := netip.MustParseAddrPort("239.255.77.13:9807")
	reports := runLab(t, group, false, []participant{
		{host: lab.Host(0), cfg: multicast.TestConfig{Count: 30, Interval: 20 * time.Millisecond}, peers: []*netlab.Host{lab.Host(1)}},
		{host: lab.Host(1), cfg: multicast.TestConfig{Count: 30, Interval: 20 * time.Millisecond, StartWait: -1}},
	})
	p := peerReport(t, reports[1], lab.Host(0).IPv4)
	u := p.Unicast
	if u == nil || u.Xmt == 0 || u.Rcv == 0 {
		t.Fatalf("host 1 never probed the introducer host 0 by unicast: %+v", u)
	}
	t.Logf("host 1 -> host 0 unicast: %d sent, %d received; status %s", u.Xmt, u.Rcv, p.Status(0))
}

// TestLabForgedProbeNoPhantomPeer: one forged counted PROBE (seq 1, a new
// session) spoofed from another host's address adds no peer to the report
// of the participant it reaches, which still passes (before: a phantom
// "not joined" peer with 100 % loss, and exit 1); a forged hello neither.
// Only listed peers, discovered ones that answered and introducers that
// echoed the cookie are reported.
func TestLabForgedProbeNoPhantomPeer(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 4})
	group := netip.MustParseAddrPort("239.255.77.14:9808")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tests := make([]*multicast.Test, 2)
	for i := range 2 {
		cfg := multicast.TestConfig{Count: 30, Interval: 20 * time.Millisecond,
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
	time.Sleep(200 * time.Millisecond) // the test is under way
	dst := netip.AddrPortFrom(lab.Host(0).IPv4, group.Port())
	for i, seq := range []uint32{0, 1} { // a hello and a counted probe, each a new session
		pr := wire.AppendProbe(nil, wire.Probe{Session: 0x6f00f + uint32(i), Seq: seq, Kind: wire.KindUnicast, Count: 3})
		if err := lab.Host(2).SpoofUDP4(netip.AddrPortFrom(lab.Host(3).IPv4, 40000+uint16(i)), dst, pr); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	r := reports[0]
	for _, p := range r.Peers {
		t.Logf("host 0 reports %v: %s", p.Peer, p.Status(0))
		if p.Peer.Addr() != lab.Host(1).IPv4 {
			t.Errorf("host 0 reports a peer it neither listed nor heard prove its address: %v (%s)", p.Peer, p.Status(0))
		}
	}
	if !r.OK(0) {
		t.Errorf("host 0's test fails after one forged probe")
	}
}
