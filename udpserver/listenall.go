package udpserver

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/udpkit/udpkit/internal/netaddr"
	"github.com/udpkit/udpkit/internal/sockopt"
)

// ListenAll opens a socket per address of addrs (host:port), as udpserver
// --listen does: an empty host means an IPv4 wildcard socket and an
// IPv6-only wildcard socket on the same port (one service for both
// families), the IPv6 one allowed to fail on a machine without IPv6 (logged
// on log at Warn, nil for silence); no address at all means ":9797".
// Either every required socket opens or none stays open. Serve each one
// with Server.Serve.
func ListenAll(ctx context.Context, addrs []string, log *slog.Logger) ([]*net.UDPConn, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(addrs) == 0 {
		addrs = []string{":" + strconv.Itoa(DefaultPort)}
	}
	var conns []*net.UDPConn
	fail := func(err error) ([]*net.UDPConn, error) {
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	for _, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		if host != "" {
			c, err := Listen(ctx, a)
			if err != nil {
				return fail(err)
			}
			conns = append(conns, c)
			continue
		}
		c, err := Listen(ctx, net.JoinHostPort("0.0.0.0", port))
		if err != nil {
			return fail(err)
		}
		conns = append(conns, c)
		if port == "0" {
			// Same port number for both families makes the pair one service.
			port = strconv.Itoa(int(netaddr.AddrPort(c.LocalAddr()).Port()))
		}
		c6, err := Listen(ctx, net.JoinHostPort("::", port))
		if err != nil {
			log.Warn("no IPv6: serving IPv4 only", "addr", net.JoinHostPort("::", port), "err", err)
			continue
		}
		conns = append(conns, c6)
	}
	return conns, nil
}

// Bound is what sockets are bound to, as an announcement gives it: the
// port of the first socket and the addresses (IPv4-mapped ones unmapped)
// of every socket on that port; others lists the ports of sockets left out
// because they are bound to another port.
func Bound(conns []*net.UDPConn) (port uint16, addrs []netip.Addr, others []uint16) {
	for _, c := range conns {
		ap := netaddr.AddrPort(c.LocalAddr())
		if port == 0 {
			port = ap.Port()
		} else if ap.Port() != port {
			others = append(others, ap.Port())
			continue
		}
		addrs = append(addrs, ap.Addr().Unmap())
		if ap.Addr() == netip.IPv6Unspecified() && dualStack(c) {
			// A dual-stack wildcard (Listen with an empty host) takes
			// IPv4 as well; an IPv6-only one (a "[::]" literal, or
			// ListenAll's IPv6 socket) must not be announced with the
			// link's IPv4 addresses.
			addrs = append(addrs, netip.IPv4Unspecified())
		}
	}
	return port, addrs, others
}

// dualStack reports whether an IPv6 socket also takes IPv4 (IPV6_V6ONLY
// off); where that cannot be read, it is taken as dual-stack, as before.
func dualStack(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return true
	}
	only6, err := sockopt.V6Only(rc)
	return err != nil || !only6
}
