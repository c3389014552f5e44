package multicast_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/multicast"
	"github.com/udpkit/udpkit/netif"
)

// loopbackIface returns the loopback interface: tests in the machine's own
// namespace never join on or send to a real interface.
func loopbackIface(t *testing.T) []netif.Interface {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 {
			sel, err := netif.Select(ifi.Name)
			if err != nil {
				t.Skipf("loopback interface: %v", err)
			}
			return sel.Interfaces
		}
	}
	t.Skip("no loopback interface")
	return nil
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// TestUnicastOnlyLoopback runs two non-member participants against each
// other over 127.0.0.1: no multicast is sent or joined, so it runs in the
// machine's own namespace.
func TestUnicastOnlyLoopback(t *testing.T) {
	lo := loopbackIface(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	pa, pb := freePort(t), freePort(t)
	ga := netip.AddrPortFrom(netip.MustParseAddr("239.255.77.9"), pa)
	gb := netip.AddrPortFrom(netip.MustParseAddr("239.255.77.9"), pb)
	cfg := func(peer uint16) multicast.TestConfig {
		return multicast.TestConfig{
			Config: multicast.Config{Interfaces: lo, NoJoin: true},
			Peers:  []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), peer)},
			Count:  20, Interval: 5 * time.Millisecond,
		}
	}
	var (
		wg     sync.WaitGroup
		ra, rb *multicast.Report
		ea, eb error
	)
	var events sync.Map
	ca := cfg(pb)
	ca.OnEvent = func(e multicast.Event) { events.Store(e.Seq, e) }
	wg.Go(func() { ra, ea = multicast.RunTest(ctx, ga, ca) })
	wg.Go(func() { rb, eb = multicast.RunTest(ctx, gb, cfg(pa)) })
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatal(ea, eb)
	}
	for _, r := range []*multicast.Report{ra, rb} {
		if r.Joined || r.Interrupted || len(r.Peers) != 1 {
			t.Fatalf("report %+v", r)
		}
		p := r.Peers[0]
		if p.Multicast != nil || p.Member != "no" || p.Unicast.Xmt != 20 || p.Unicast.Rcv != 20 || p.Unicast.Replies != 20 {
			t.Errorf("peer %+v unicast %+v", p, p.Unicast)
		}
		if p.Unicast.RTTMin <= 0 || p.Unicast.RTTMax < p.Unicast.RTTAvg || p.Unicast.TTLSeen != 64 && p.Unicast.TTLSeen <= 0 {
			t.Errorf("rtt/ttl %+v", p.Unicast)
		}
		if !r.OK(0) {
			t.Errorf("not OK: %s", p.Status(0))
		}
	}
	if _, ok := events.Load(uint32(20)); !ok {
		t.Error("no event for seq 20")
	}
}

// TestDeadPeer: a listed peer that never answers is reported as such and
// fails the test.
func TestDeadPeer(t *testing.T) {
	lo := loopbackIface(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	g := netip.AddrPortFrom(netip.MustParseAddr("239.255.77.9"), freePort(t))
	dead := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), freePort(t))
	r, err := multicast.RunTest(ctx, g, multicast.TestConfig{
		Config: multicast.Config{Interfaces: lo, NoJoin: true}, Peers: []netip.AddrPort{dead},
		Count: 3, Interval: 5 * time.Millisecond, StartWait: 50 * time.Millisecond, Linger: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Peers[0]
	if p.Answered || p.Status(100) != multicast.StatusNoAnswer || p.Unicast.Loss != 100 || r.OK(100) {
		t.Errorf("dead peer: %+v %+v", p, p.Unicast)
	}
}

func TestConfigErrors(t *testing.T) {
	lo := loopbackIface(t)
	ctx := t.Context()
	tests := []struct {
		name  string
		group string
		cfg   multicast.Config
		want  error
	}{
		{"unicast group", "127.0.0.1:9", multicast.Config{Interfaces: lo, NoJoin: true}, multicast.ErrNotMulticast},
		{"source family", "239.1.2.3:9", multicast.Config{Interfaces: lo, NoJoin: true, Source: netip.MustParseAddr("::1")}, multicast.ErrNotMulticast},
		{"no interface", "239.1.2.3:9", multicast.Config{Interfaces: []netif.Interface{}, NoJoin: true}, multicast.ErrNoInterface},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := multicast.Dial(ctx, netip.MustParseAddrPort(tc.group), tc.cfg)
			if err == nil {
				c.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := multicast.Dial(ctx, netip.MustParseAddrPort("239.1.2.3:9"), multicast.Config{Interfaces: lo, TTL: 300}); err == nil {
		t.Error("TTL 300 accepted")
	}
}
