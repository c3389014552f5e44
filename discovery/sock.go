package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/udpkit/udpkit/internal/sockopt"
	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// pconn is one UDP socket of one address family as the discovery logic
// sees it: datagrams tagged with the interface they arrived on, and sends
// out of a given interface. The real one wraps x/net's ipv4/ipv6
// PacketConn; tests use an in-memory fake.
type pconn interface {
	readFrom(b []byte) (n int, src netip.AddrPort, ifIndex int, err error)
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
	var lc net.ListenConfig
	if shared {
		lc.Control = func(_, _ string, c syscall.RawConn) error { return sockopt.ShareAddr(c) }
	} else {
		port = 0
	}
	switch family {
	case 4:
		c, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", port))
		if err != nil {
			return nil, err
		}
		p := ipv4.NewPacketConn(c)
		if err := p.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true); err != nil {
			c.Close()
			return nil, fmt.Errorf("receiving the interface of IPv4 datagrams: %w", err)
		}
		_ = p.SetMulticastTTL(1) // the default; discovery never leaves the link
		if shared {
			group := &net.UDPAddr{IP: wire.DiscoveryGroup4.AsSlice()}
			for _, l := range links {
				if !l.CanMulticast() || len(l.IPv4) == 0 {
					continue
				}
				if err := p.JoinGroup(&net.Interface{Index: l.Index, Name: l.Name}, group); err != nil {
					log.Warn("discovery: joining the IPv4 group failed; this interface hears broadcasts only",
						"interface", l.Name, "group", wire.DiscoveryGroup4, "err", err)
				}
			}
		}
		return &conn4{p: p}, nil
	case 6:
		c, err := lc.ListenPacket(context.Background(), "udp6", fmt.Sprintf("[::]:%d", port))
		if err != nil {
			return nil, err
		}
		p := ipv6.NewPacketConn(c)
		if err := p.SetControlMessage(ipv6.FlagInterface|ipv6.FlagDst, true); err != nil {
			c.Close()
			return nil, fmt.Errorf("receiving the interface of IPv6 datagrams: %w", err)
		}
		_ = p.SetMulticastHopLimit(1)
		if shared {
			group := &net.UDPAddr{IP: wire.DiscoveryGroup6.AsSlice()}
			joined := 0
			for _, l := range links {
				if !l.CanMulticast() || !l.IPv6LinkLocal.IsValid() {
					continue
				}
				if err := p.JoinGroup(&net.Interface{Index: l.Index, Name: l.Name}, group); err != nil {
					log.Warn("discovery: joining the IPv6 group failed on this interface",
						"interface", l.Name, "group", wire.DiscoveryGroup6, "err", err)
					continue
				}
				joined++
			}
			if joined == 0 {
				c.Close()
				return nil, errors.New("joined the IPv6 group on no interface")
			}
		}
		return &conn6{p: p}, nil
	}
	return nil, fmt.Errorf("address family %d", family)
}

type conn4 struct{ p *ipv4.PacketConn }

func (c *conn4) readFrom(b []byte) (int, netip.AddrPort, int, error) {
	n, cm, src, err := c.p.ReadFrom(b)
	idx := 0
	if cm != nil {
		idx = cm.IfIndex
	}
	return received(n, src, idx, err)
}

// received shapes the result of an ipv4 or ipv6 PacketConn.ReadFrom for
// pconn.readFrom.
func received(n int, src net.Addr, ifIndex int, err error) (int, netip.AddrPort, int, error) {
	if err != nil {
		return 0, netip.AddrPort{}, 0, err
	}
	return n, udpAddrPort(src), ifIndex, nil
}

func (c *conn4) writeTo(b []byte, dst netip.AddrPort, ifIndex int) error {
	var cm *ipv4.ControlMessage
	if ifIndex != 0 {
		cm = &ipv4.ControlMessage{IfIndex: ifIndex}
	}
	_, err := c.p.WriteTo(b, cm, net.UDPAddrFromAddrPort(dst))
	return err
}

func (c *conn4) close() error { return c.p.Close() }

type conn6 struct{ p *ipv6.PacketConn }

func (c *conn6) readFrom(b []byte) (int, netip.AddrPort, int, error) {
	n, cm, src, err := c.p.ReadFrom(b)
	idx := 0
	if cm != nil {
		idx = cm.IfIndex
	}
	return received(n, src, idx, err)
}

func (c *conn6) writeTo(b []byte, dst netip.AddrPort, ifIndex int) error {
	var cm *ipv6.ControlMessage
	if ifIndex != 0 {
		cm = &ipv6.ControlMessage{IfIndex: ifIndex}
		if dst.Addr().Zone() != "" {
			// A numeric zone: the net package's name-to-index cache is
			// shared by every network namespace a process enters, so a
			// name may map to another namespace's index.
			dst = netip.AddrPortFrom(dst.Addr().WithZone(strconv.Itoa(ifIndex)), dst.Port())
		}
	}
	_, err := c.p.WriteTo(b, cm, net.UDPAddrFromAddrPort(dst))
	return err
}

func (c *conn6) close() error { return c.p.Close() }

func udpAddrPort(a net.Addr) netip.AddrPort {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
