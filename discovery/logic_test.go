package discovery

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

func testLinks() []netif.Interface {
	return []netif.Interface{
		{Name: "eth0", Index: 2, Flags: net.FlagUp | net.FlagBroadcast | net.FlagMulticast,
			IPv4:          []netif.IPv4Addr{{Addr: netip.MustParsePrefix("198.18.0.10/24"), Broadcast: netip.MustParseAddr("198.18.0.255")}},
			IPv6LinkLocal: netip.MustParseAddr("fe80::10%eth0")},
		{Name: "eth1", Index: 3, Flags: net.FlagUp | net.FlagBroadcast | net.FlagMulticast,
			IPv4: []netif.IPv4Addr{{Addr: netip.MustParsePrefix("198.18.1.10/24"), Broadcast: netip.MustParseAddr("198.18.1.255")}}},
	}
}

func TestAnswerDecisions(t *testing.T) {
	a := &Announcer{cfg: AnnouncerConfig{Service: "_udpkit._udp", Instance: "srv", Port: 9797, Attrs: []string{"a=1", "b=2"}, MaxAnswerDelay: 5 * time.Millisecond},
		links: testLinks(), ttl: 120, seen: map[queryKey]*queryState{}, warm: true}
	a.log = slog.New(slog.DiscardHandler)
	a.uni[0], a.uni[1] = dummyConn{}, dummyConn{}
	src4 := netip.MustParseAddrPort("198.18.0.20:40000")
	q := func(id uint64, query wire.Query, size int) []byte {
		b, _ := wire.AppendQuery(nil, id, query, size)
		return b
	}
	now := time.Now()
	cases := []struct {
		name string
		p    inPacket
		want bool
	}{
		{"any service", pk(q(1, wire.Query{}, 512), src4, 2), true},
		{"same query again (other path)", pk(q(1, wire.Query{}, 512), src4, 2), false},
		{"same ID over IPv6", pk(q(1, wire.Query{}, 512), netip.MustParseAddrPort("[fe80::20%eth0]:40000"), 2), true},
		{"same ID on the other interface", pk(q(1, wire.Query{}, 512), netip.MustParseAddrPort("198.18.1.20:40000"), 3), true},
		{"new round", pk(q(2, wire.Query{}, 512), src4, 2), true},
		{"other service", pk(q(3, wire.Query{Service: "_x._udp"}, 512), src4, 2), false},
		{"service, any case", pk(q(4, wire.Query{Service: "_UDPKIT._udp"}, 512), src4, 2), true},
		{"other instance", pk(q(5, wire.Query{Instance: "other"}, 512), src4, 2), false},
		{"known", pk(q(6, wire.Query{Known: []uint64{wire.KnownHash("_udpkit._udp", "SRV")}}, 512), src4, 2), false},
		{"interface not served", pk(q(7, wire.Query{}, 512), src4, 9), false},
		{"not a query", pk(wire.AppendAck(nil, 8), src4, 2), false},
		{"malformed", pk(q(9, wire.Query{}, 0)[:18], src4, 2), false},
	}
	for _, c := range cases {
		ans, ok := answerOf(a, c.p, now)
		if ok != c.want {
			t.Errorf("%s: answered %v, want %v", c.name, ok, c.want)
			continue
		}
		if !ok {
			continue
		}
		if len(ans.msg) > len(c.p.b) {
			t.Errorf("%s: answer of %d bytes to a query of %d", c.name, len(ans.msg), len(c.p.b))
		}
		if ans.dst != c.p.src || ans.ifIndex != c.p.ifIndex || ans.due.Sub(now) > 5*time.Millisecond {
			t.Errorf("%s: answer %+v", c.name, ans)
		}
		h, body, _ := wire.Parse(ans.msg)
		rec, err := wire.ParseRecord(body)
		if err != nil || h.Type != wire.TypeAnswer {
			t.Fatalf("%s: %v %v", c.name, h, err)
		}
		// Only the addresses of the interface the query came in on.
		l := netif.ByIndex(a.links, c.p.ifIndex)
		for _, ad := range rec.Addrs {
			if !l.Has(ad) {
				t.Errorf("%s: answer names %v, not an address of %s", c.name, ad, l.Name)
			}
		}
	}
	// A small query gets a truncated answer; a tiny one none.
	ans, ok := answerOf(a, pk(q(20, wire.Query{}, 0), src4, 2), now)
	if ok {
		t.Errorf("answered a %d-byte query with %d bytes", wire.QueryFixedLen, len(ans.msg))
	}
	r := a.record(&a.links[0], netip.Addr{}, 120)
	ans, ok = answerOf(a, pk(q(21, wire.Query{}, wire.RecordLen(r)-1), src4, 2), now)
	if !ok {
		t.Fatal("no truncated answer")
	}
	_, body, _ := wire.Parse(ans.msg)
	if rec, _ := wire.ParseRecord(body); !rec.Truncated || len(rec.Attrs) != 1 {
		t.Errorf("truncated answer %+v", rec)
	}
	// Before its start's peer discovery is over, a server leaves shared
	// queries to its peers (deferred, answered once warm: a later copy)
	// and answers a query to one of its own addresses.
	a.warm = false
	if _, ok := answerOf(a, pk(q(30, wire.Query{}, 512), src4, 2), now); ok {
		t.Error("a cold server answered a shared query")
	}
	own := pk(q(31, wire.Query{}, 512), src4, 2)
	own.dst = netip.MustParseAddr("198.18.0.10")
	if _, ok := answerOf(a, own, now); !ok {
		t.Error("a cold server did not answer a query to its own address")
	}
	a.warm = true
	if _, ok := answerOf(a, pk(q(30, wire.Query{}, 512), src4, 2), now); !ok {
		t.Error("the deferred query's next copy, once warm, got no answer")
	}
}

func TestRestrict(t *testing.T) {
	links := testLinks()
	if got := netif.Restrict(links, nil); len(got) != 2 {
		t.Error("no bound addresses: all links")
	}
	if got := netif.Restrict(links, []netip.Addr{netip.IPv4Unspecified()}); len(got) != 2 {
		t.Error("wildcard: all links")
	}
	got := netif.Restrict(links, []netip.Addr{netip.MustParseAddr("198.18.1.10")})
	if len(got) != 1 || got[0].Name != "eth1" || len(announced(&got[0], netip.Addr{})) != 1 {
		t.Errorf("bound to eth1's address: %+v", got)
	}
	if got := netif.Restrict(links, []netip.Addr{netip.MustParseAddr("127.0.0.1")}); len(got) != 0 {
		t.Errorf("loopback: %+v", got)
	}
}

func TestSchedules(t *testing.T) {
	prev := time.Duration(-1)
	for n := range 10 {
		o := queryOffset(n)
		if o <= prev {
			t.Errorf("round %d at %v, not after %v", n, o, prev)
		}
		prev = o
	}
	if queryOffset(7)-queryOffset(6) != time.Second {
		t.Error("after the front-loaded rounds: one a second")
	}
	for range 100 {
		if d := announceDelay(5, 3*time.Second); d > 2*time.Second || d < 1800*time.Millisecond {
			t.Errorf("re-announce after %v with TTL 3s", d)
		}
		if d := answerDelay(5 * time.Millisecond); d < 0 || d > 5*time.Millisecond {
			t.Errorf("answer delay %v", d)
		}
	}
}

type dummyConn struct{}

func (dummyConn) readFrom([]byte) (int, netip.AddrPort, netip.Addr, int, error) { select {} }
func (dummyConn) writeTo([]byte, netip.AddrPort, int) error                     { return nil }
func (dummyConn) close() error                                                  { return nil }

// pk is a datagram that arrived from src on interface ifIndex, its
// destination unknown (as for a shared query).
func pk(b []byte, src netip.AddrPort, ifIndex int) inPacket {
	return inPacket{b: b, src: src, ifIndex: ifIndex}
}

// answerOf hands p to the Announcer as Run does and returns the answer.
func answerOf(a *Announcer, p inPacket, now time.Time) (pendingAnswer, bool) {
	ans, ok, _ := a.receive(p, now)
	return ans, ok
}
