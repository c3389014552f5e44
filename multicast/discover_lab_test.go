package multicast_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/multicast"
)

// TestLabDiscoveredAfterIntroduction: two participants with discovery
// and no peer list, where host 1 finds host 0 at once but host 0 hears of
// host 1 first by its unicast hello, and finds it by discovery later
// ("late", the common race of two hosts started together) or never
// ("never", its announcement lost). Host 0 must still probe host 1 by
// unicast from probe 1, and both must count every unicast probe: before,
// host 0 started without waiting, never (or late) proved host 1, and
// reported 5/0/100 % unicast with status ok while host 1 saw no unicast
// probe from it.
func TestLabDiscoveredAfterIntroduction(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	const count = 5
	for k, tc := range []struct {
		name  string
		delay time.Duration // before host 0's AddPeer; 0: never
	}{{"late", 300 * time.Millisecond}, {"never", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			group := netip.AddrPortFrom(netip.AddrFrom4([4]byte{239, 255, 81, byte(k + 1)}), 9797)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			sess := [2]uint32{0xa0a0a0a0 + uint32(k), 0xb1b1b1b1 + uint32(k)}
			var tests [2]*multicast.Test
			for i := range 2 {
				cfg := multicast.TestConfig{Discover: true, Count: count, Interval: 100 * time.Millisecond,
					StartWait: 4 * time.Second, Session: sess[i]}
				err := lab.Host(i).Do(func() (err error) {
					tests[i], err = multicast.NewTest(ctx, group, cfg)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { tests[i].Close() })
			}
			addr := func(i int) netip.AddrPort { return netip.AddrPortFrom(lab.Host(i).IPv4, group.Port()) }
			tests[1].AddPeer(addr(0), sess[0])
			var (
				wg      sync.WaitGroup
				reports [2]*multicast.Report
			)
			for i := range 2 {
				wg.Go(func() { reports[i] = tests[i].Run(ctx) })
			}
			if tc.delay > 0 {
				time.Sleep(tc.delay)
				tests[0].AddPeer(addr(1), sess[1])
			}
			wg.Wait()
			for i := range 2 {
				p := peerReport(t, reports[i], lab.Host(1-i).IPv4)
				m, u := p.Multicast, p.Unicast
				t.Logf("host %d -> %d: %s, multicast %d/%d, unicast %d/%d from %d, from peer unicast %d/%d, discovered %v",
					i, 1-i, p.Status(0), m.Xmt, m.Rcv, u.Xmt, u.Rcv, u.First, u.From.Expected, u.From.Received, p.Discovered)
				if p.Status(0) != multicast.StatusOK || u.Xmt != count || u.Rcv != count || u.First != 1 ||
					u.From.Expected != count || u.From.Received != count || m.Rcv != count {
					t.Errorf("host %d -> host %d: want every unicast and group probe counted both ways", i, 1-i)
				}
			}
			if want := tc.delay > 0; peerReport(t, reports[0], lab.Host(1).IPv4).Discovered != want {
				t.Errorf("host 0's report on host 1: discovered %v, want %v", !want, want)
			}
		})
	}
}
