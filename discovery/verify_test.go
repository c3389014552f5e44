package discovery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/wire"
)

// TestLabVerifyPeer: on a crowded link, a peer heard only from an ANNOUNCE
// ranks in no answer budget until it answers the server's verification
// QUERY (verify.go). On a namespace LAN, a socket on host 1 announces
// "peer-1" to the server on host 0 after two names of the same size, with
// attributes that make the three crowd the link (more than calmBytes with
// the server's answer), and receives the query (a unicast QUERY for its instance, no larger than its
// announcement). An attacker on host 2 answers it from
// the peer's spoofed address with a wrong message ID, and with the right
// ID from its own address: neither verifies. The peer's own answer with
// the query's ID does.
func TestLabVerifyPeer(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 3})
	srvHost, peerHost, attacker := lab.Host(0), lab.Host(1), lab.Host(2)
	a := startAnnouncer(t, srvHost, AnnouncerConfig{Port: 9797, Instance: "server-0"})
	var c *net.UDPConn
	if err := peerHost.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 40500})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peerAddr := netip.AddrPortFrom(peerHost.IPv4, 40500)
	rec := wire.Record{Service: DefaultService, Instance: "peer-1", Port: 9797, TTL: 120, Addrs: []netip.Addr{peerHost.IPv4}, Attrs: bigAttrs(6)}
	ann, err := wire.AppendRecord(nil, wire.TypeAnnounce, 77, rec)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the server runs
	// Two names of the same size first: with peer-1 they crowd the link.
	for i, name := range []string{"filler-a", "filler-b"} {
		f := rec
		f.Instance = name
		b, err := wire.AppendRecord(nil, wire.TypeAnnounce, uint64(80+i), f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteToUDPAddrPort(b, netip.AddrPortFrom(srvHost.IPv4, wire.DiscoveryPort)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.WriteToUDPAddrPort(ann, netip.AddrPortFrom(srvHost.IPv4, wire.DiscoveryPort)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	var qh wire.Header
	var from netip.AddrPort
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no verification query within 5 s: %v", err)
		}
		h, body, err := wire.Parse(buf[:n])
		if err != nil || h.Type != wire.TypeQuery {
			continue
		}
		q, err := wire.ParseQuery(body)
		if err != nil {
			t.Fatal(err)
		}
		if q.Service != DefaultService || q.Instance != "peer-1" {
			if q.Service == DefaultService && (q.Instance == "filler-a" || q.Instance == "filler-b") {
				continue // asked too: the fillers were calm until peer-1 came
			}
			t.Fatalf("query for %q %q, want peer-1", q.Service, q.Instance)
		}
		if n > len(ann) {
			t.Errorf("verification query of %d bytes for an announcement of %d", n, len(ann))
		}
		qh, from = h, src
		break
	}
	answer := func(id uint64) []byte {
		b, err := wire.AppendRecord(nil, wire.TypeAnswer, id, rec)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wait := func(want uint64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for a.Stats().PeersVerified != want {
			if time.Now().After(deadline) {
				t.Fatalf("PeersVerified %d, want %d", a.Stats().PeersVerified, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := attacker.SpoofUDP4(peerAddr, from, answer(qh.ID^1)); err != nil {
		t.Fatal(err)
	}
	if err := attacker.SpoofUDP4(netip.AddrPortFrom(attacker.IPv4, 40500), from, answer(qh.ID)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	wait(0)
	if _, err := c.WriteToUDPAddrPort(answer(qh.ID), from); err != nil {
		t.Fatal(err)
	}
	wait(1)
	if st := a.Stats(); st.VerifyQueries == 0 {
		t.Errorf("VerifyQueries %d", st.VerifyQueries)
	}
}

// bigAttrs returns n attributes of 230 bytes each.
func bigAttrs(n int) []string {
	var as []string
	for i := range n {
		as = append(as, fmt.Sprintf("k%d=%s", i, strings.Repeat("x", 227)))
	}
	return as
}

// TestSyncLazyVerification (issue 12 item 4): verification is lazy. On a
// calm LAN (10 servers, answers of about 90 bytes: all fit in one browser
// round) no server sends a verification query, and every server ranks
// every other. A few forged names announced there rank too (calm), and
// forged shared queries still draw at most their bytes from all servers.
// Forged names that crowd the link make every server ask its calm peers:
// the real ones prove their addresses, the forged ones never rank again,
// and a browse finds every real server within its first rounds.
func TestSyncLazyVerification(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := newFakeLAN()
		var servers []*fakeHost
		var anns []*Announcer
		for i := range 10 {
			h := lan.addHost(fmt.Sprintf("srv%d", i), 10+i)
			servers = append(servers, h)
			a, stop := runFake(t, h, AnnouncerConfig{Port: 9797, Instance: fmt.Sprintf("server-%02d", i),
				Attrs: []string{"version=1.2.3", fmt.Sprintf("room=lab-%d", i)}})
			t.Cleanup(stop)
			anns = append(anns, a)
		}
		time.Sleep(2 * time.Second)
		verifyQueries := func() uint64 {
			n := uint64(0)
			for _, a := range anns {
				n += a.Stats().VerifyQueries
			}
			return n
		}
		// ranked returns, per server, the peers it ranks now, by name.
		ranked := func() []map[string]bool {
			var out []map[string]bool
			for _, a := range anns {
				a.loop.Lock()
				r := map[string]bool{}
				for _, pr := range a.peers[2] {
					if pr.ranks(time.Now()) {
						r[pr.instance] = true
					}
				}
				a.loop.Unlock()
				out = append(out, r)
			}
			return out
		}
		if n := verifyQueries(); n != 0 {
			t.Errorf("calm LAN of 10: %d verification queries, want none", n)
		}
		for i, r := range ranked() {
			if len(r) != 9 {
				t.Errorf("server %d ranks %d peers (%v), want the 9 others", i, len(r), r)
			}
		}
		id := uint64(1 << 50)
		forge := func(i int) {
			id++
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(100 + i)}), wire.DiscoveryPort)
			rec := wire.Record{Service: DefaultService, Instance: fmt.Sprintf("forged-%02d", i), Port: 9797, TTL: 120,
				Addrs: []netip.Addr{src.Addr()}, Attrs: []string{"version=1.2.3", "room=nowhere"}}
			b, err := wire.AppendRecord(nil, wire.TypeAnnounce, id, rec)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range servers {
				lan.inject(s, wire.DiscoveryPort, src, 2, b)
			}
			synctest.Wait()
		}
		victim := netip.MustParseAddrPort("198.18.0.99:40406")
		over := 0
		budgetCheck := func(when string) {
			for _, size := range []int{120, 200, 290, 600} {
				for range 16 {
					id++
					q, _ := wire.AppendQuery(nil, id, wire.Query{Service: DefaultService}, size)
					for _, s := range servers {
						lan.inject(s, wire.DiscoveryPort, victim, 2, q)
					}
					synctest.Wait()
					out := 0
					for _, a := range sentBy(lan, servers, func(s fakeSend) bool { return s.h.ID == id }) {
						out += len(a.b)
					}
					if out > len(q) {
						if over++; over <= 5 {
							t.Errorf("%s: %d bytes out for a %d-byte query", when, out, len(q))
						}
					}
				}
			}
		}
		budgetCheck("calm")
		for i := range 3 {
			forge(i)
		}
		time.Sleep(100 * time.Millisecond)
		if n := verifyQueries(); n != 0 {
			t.Errorf("3 forged names on a calm LAN: %d verification queries, want none", n)
		}
		budgetCheck("calm, 3 forged names")
		// Crowd it: 30 forged names more (over 2 × 1472 bytes in all).
		for i := 3; i < 33; i++ {
			forge(i)
		}
		budgetCheck("just crowded")
		time.Sleep(2 * time.Second)
		if n := verifyQueries(); n == 0 {
			t.Error("crowded LAN: no verification query")
		}
		for i, r := range ranked() {
			real := 0
			for name := range r {
				if strings.HasPrefix(name, "forged") {
					t.Errorf("server %d ranks %s after the verification", i, name)
				} else {
					real++
				}
			}
			if real != 9 {
				t.Errorf("server %d ranks %d real peers, want 9", i, real)
			}
		}
		budgetCheck("crowded, verified")
		t.Logf("%d verification queries in all after the crowding", verifyQueries())

		cli := lan.addHost("cli", 200)
		b, err := newBrowser(BrowserConfig{}, cli.links, cli)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		found := map[string]bool{}
		b.Browse(ctx, "", func(in Instance) {
			if !strings.HasPrefix(in.Instance, "forged") {
				if found[in.Instance] = true; len(found) == 10 {
					cancel()
				}
			}
		})
		if len(found) != 10 {
			t.Fatalf("found %d of 10 real servers", len(found))
		}
		if d := time.Since(t0); d > 400*time.Millisecond {
			t.Errorf("found the 10 real servers after %v, want within the first rounds", d)
		}
	})
}
