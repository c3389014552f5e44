package discovery

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/udpkit/udpkit/internal/groupsock"
	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// pconn is one UDP socket of one address family as the discovery logic
// sees it: datagrams tagged with the interface they arrived on and their
// destination address (invalid when unknown), and sends out of a given
// interface. The real one is an internal/groupsock Conn;
// tests use an in-memory fake.
type pconn interface {
	readFrom(b []byte) (n int, src netip.AddrPort, dst netip.Addr, ifIndex int, err error)
	writeTo(b []byte, dst netip.AddrPort, ifIndex int) error
	close() error
}

// network opens sockets. shared sockets bind the discovery port with
// address reuse and join group on every link; the others bind an
// ephemeral port.
type network interface {
	listen(family int, port int, shared bool, links []netif.Interface, log *slog.Logger) (pconn, error)
}

type sysNetwork struct{}

func (sysNetwork) listen(family int, port int, shared bool, links []netif.Interface, log *slog.Logger) (pconn, error) {
	cfg := groupsock.Config{Family: family, TTL: 1} // discovery never leaves the link
	if shared {
		cfg.Port, cfg.Share, cfg.Join = port, groupsock.ShareAddr, true
		cfg.Group = wire.DiscoveryGroup4
		if family == 6 {
			// Without the group an IPv6 socket hears nothing: no broadcast.
			cfg.Group, cfg.RequireJoin = wire.DiscoveryGroup6, true
		}
		for _, l := range links {
			if l.CanMulticast() && hasFamily(&l, family) {
				cfg.Interfaces = append(cfg.Interfaces, l)
			}
		}
	}
	c, err := groupsock.Listen(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	for _, m := range c.Memberships() {
		if m.Err == nil {
			continue
		}
		if family == 4 {
			log.Warn("discovery: joining the IPv4 group failed; this interface hears broadcasts only",
				"interface", m.Interface.Name, "group", cfg.Group, "err", m.Err)
		} else {
			log.Warn("discovery: joining the IPv6 group failed on this interface",
				"interface", m.Interface.Name, "group", cfg.Group, "err", m.Err)
		}
	}
	return gconn{c}, nil
}

// gconn is a pconn on a group socket.
type gconn struct{ c *groupsock.Conn }

func (g gconn) readFrom(b []byte) (int, netip.AddrPort, netip.Addr, int, error) {
	p, err := g.c.ReadFrom(b)
	if err != nil {
		return 0, netip.AddrPort{}, netip.Addr{}, 0, err
	}
	return p.N, p.Src, p.Dst, p.IfIndex, nil
}

// sendWait is the longest a discovery datagram waits for room in its
// socket's send buffer before it is dropped (an error matching
// os.ErrDeadlineExceeded). A unicast datagram to an address that does not
// answer ARP or neighbour solicitation stays queued in the kernel, charged
// to the socket, until resolution fails (about 3 s): answers to a flood of
// queries spoofed from on-link addresses nobody holds fill the buffer, and
// a blocking send would stall the Announcer's loop, so that its receive
// queue overflows and real queries are lost (e2e/TestSpoofedQueriesForger).
// A dropped datagram is a lost frame, which discovery tolerates.
const sendWait = time.Millisecond

func (g gconn) writeTo(b []byte, dst netip.AddrPort, ifIndex int) error {
	g.c.SetWriteDeadline(time.Now().Add(sendWait))
	return g.c.WriteTo(b, dst, ifIndex)
}

func (g gconn) close() error { return g.c.Close() }

// eachWriter is a pconn that sends one datagram to several addresses in
// one system call (gconn; the tests' fakes send one by one).
type eachWriter interface {
	writeToEach(b []byte, dsts []netip.AddrPort, ifIndex int) []error
}

func (g gconn) writeToEach(b []byte, dsts []netip.AddrPort, ifIndex int) []error {
	g.c.SetWriteDeadline(time.Now().Add(sendWait))
	return g.c.WriteToEach(b, dsts, ifIndex)
}

// writeToEach sends b to every address of dsts from c, in one system call
// when c can, and returns one error per address.
func writeToEach(c pconn, b []byte, dsts []netip.AddrPort, ifIndex int) []error {
	if w, ok := c.(eachWriter); ok {
		return w.writeToEach(b, dsts, ifIndex)
	}
	errs := make([]error, len(dsts))
	for i, dst := range dsts {
		errs[i] = c.writeTo(b, dst, ifIndex)
	}
	return errs
}
