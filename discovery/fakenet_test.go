package discovery

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// fakeLAN is an in-memory LAN behind the network and pconn interfaces:
// hosts with links; links of the same name form one segment. Group sends
// reach every shared socket of the family on the segment, broadcasts and
// ff02::1 every socket bound to the port (the sender's own host included,
// as IP_MULTICAST_LOOP does); unicast
// reaches the socket bound to the destination address and port. Delivery
// is immediate, so tests under testing/synctest see exact times.
type fakeLAN struct {
	mu    sync.Mutex
	hosts []*fakeHost
	conns []*fakeConn
	port  int // next ephemeral port
	log   []fakeSend
	// drop, when set, decides whether one delivery of a datagram is lost.
	drop func(s fakeSend, to *fakeHost) bool
	// tap, when set, receives a copy of every datagram written (dropped
	// when full), so a test can play an attacker that sees the LAN.
	tap chan fakeSend
}

// fakeSend is one datagram written by a host.
type fakeSend struct {
	at   time.Time
	from *fakeHost
	src  netip.AddrPort
	dst  netip.AddrPort
	link string
	h    wire.Header
	b    []byte
}

type fakeHost struct {
	lan   *fakeLAN
	name  string
	links []netif.Interface
}

type fakePacket struct {
	b       []byte
	src     netip.AddrPort
	dst     netip.Addr // invalid for injected datagrams: unknown
	ifIndex int
}

type fakeConn struct {
	host   *fakeHost
	family int
	port   int
	shared bool
	in     chan fakePacket
	done   chan struct{}
	once   sync.Once
}

func newFakeLAN() *fakeLAN { return &fakeLAN{port: 40000} }

// addHost adds a host with one link "eth0" (index 2) holding 198.18.0.n/24
// and fe80::n, plus one link per extra segment name (index 3, 4, …) with
// 198.18.k.n/24.
func (l *fakeLAN) addHost(name string, n int, extra ...string) *fakeHost {
	h := &fakeHost{lan: l, name: name}
	segs := append([]string{"eth0"}, extra...)
	for k, s := range segs {
		p := netip.MustParsePrefix(fmt.Sprintf("198.18.%d.%d/24", k, n))
		lk := netif.Interface{Name: s, Index: 2 + k, Flags: net.FlagUp | net.FlagBroadcast | net.FlagMulticast,
			IPv4: []netif.IPv4Addr{{Addr: p, Broadcast: netip.AddrFrom4([4]byte{198, 18, byte(k), 255})}}}
		if k == 0 {
			lk.IPv6LinkLocal = netip.MustParseAddr(fmt.Sprintf("fe80::%x%%%s", n, s))
		}
		h.links = append(h.links, lk)
	}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	return h
}

func (h *fakeHost) listen(family int, port int, shared bool, links []netif.Interface, log *slog.Logger) (pconn, error) {
	h.lan.mu.Lock()
	defer h.lan.mu.Unlock()
	if !shared {
		port = h.lan.port
		h.lan.port++
	}
	c := &fakeConn{host: h, family: family, port: port, shared: shared,
		in: make(chan fakePacket, 4096), done: make(chan struct{})}
	h.lan.conns = append(h.lan.conns, c)
	return c, nil
}

func (c *fakeConn) readFrom(b []byte) (int, netip.AddrPort, netip.Addr, int, error) {
	select {
	case p := <-c.in:
		return copy(b, p.b), p.src, p.dst, p.ifIndex, nil
	case <-c.done:
		return 0, netip.AddrPort{}, netip.Addr{}, 0, net.ErrClosed
	}
}

func (c *fakeConn) close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

func (c *fakeConn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// srcAddr is the host's address of the conn's family on link l.
func (c *fakeConn) srcAddr(l *netif.Interface) netip.Addr {
	if c.family == 4 {
		if len(l.IPv4) == 0 {
			return netip.Addr{}
		}
		return l.IPv4[0].Addr.Addr()
	}
	return l.IPv6LinkLocal.WithZone("")
}

func (c *fakeConn) writeTo(b []byte, dst netip.AddrPort, ifIndex int) error {
	if c.closed() {
		return net.ErrClosed
	}
	if dst.Addr().Is4() != (c.family == 4) {
		return fmt.Errorf("fake: IPv%d socket cannot send to %v", c.family, dst)
	}
	l := netif.ByIndex(c.host.links, ifIndex)
	if l == nil {
		return fmt.Errorf("fake: %s has no interface %d", c.host.name, ifIndex)
	}
	lan := c.host.lan
	lan.mu.Lock()
	defer lan.mu.Unlock()
	h, _, _ := wire.Parse(b)
	s := fakeSend{at: time.Now(), from: c.host, src: netip.AddrPortFrom(c.srcAddr(l), uint16(c.port)),
		dst: dst, link: l.Name, h: h, b: slices.Clone(b)}
	lan.log = append(lan.log, s)
	if lan.tap != nil {
		select {
		case lan.tap <- s:
		default:
		}
	}
	to := dst.Addr().WithZone("")
	// Every socket bound to the port hears a broadcast or ff02::1 (every
	// host is in it), as Linux delivers them to wildcard-bound sockets;
	// the discovery groups only the shared sockets, which joined them.
	all := to == allNodes || slices.ContainsFunc(l.IPv4, func(v netif.IPv4Addr) bool { return v.Broadcast == to })
	group := all || to == wire.DiscoveryGroup4 || to == wire.DiscoveryGroup6
	for _, r := range lan.conns {
		if r.family != c.family || r.port != int(dst.Port()) || r.closed() {
			continue
		}
		var rl *netif.Interface
		for i := range r.host.links {
			if x := &r.host.links[i]; x.Name == l.Name && (group && (r.shared || all) || !group && x.Has(to)) {
				rl = x
			}
		}
		if rl == nil || lan.drop != nil && lan.drop(s, r.host) {
			continue
		}
		src := s.src
		if src.Addr().Is6() && src.Addr().IsLinkLocalUnicast() {
			src = netip.AddrPortFrom(src.Addr().WithZone(rl.Name), src.Port())
		}
		select {
		case r.in <- fakePacket{b: s.b, src: src, dst: to, ifIndex: rl.Index}:
		default: // receive buffer full
		}
	}
	return nil
}

// inject delivers b to every socket of host h bound to port as if it came
// from src on h's link ifIndex (a spoofed or foreign datagram).
func (l *fakeLAN) inject(h *fakeHost, port int, src netip.AddrPort, ifIndex int, b []byte) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	fam := 6
	if src.Addr().Is4() {
		fam = 4
	}
	for _, r := range l.conns {
		if r.host == h && r.port == port && r.family == fam && !r.closed() {
			select {
			case r.in <- fakePacket{b: slices.Clone(b), src: src, ifIndex: ifIndex}:
				n++
			default:
			}
		}
	}
	return n
}

// sends returns the datagrams logged so far that match f.
func (l *fakeLAN) sends(f func(fakeSend) bool) []fakeSend {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []fakeSend
	for _, s := range l.log {
		if f(s) {
			out = append(out, s)
		}
	}
	return out
}

// byType matches datagrams of type t sent by host h (any host when nil)
// to destination dst (any when invalid).
func byType(h *fakeHost, t wire.Type, dst netip.AddrPort) func(fakeSend) bool {
	return func(s fakeSend) bool {
		return s.h.Type == t && (h == nil || s.from == h) && (!dst.IsValid() || s.dst == dst)
	}
}
