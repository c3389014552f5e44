package mdns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/udpkit/udpkit/internal/sockopt"
	"github.com/udpkit/udpkit/netif"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// This file is the only one that touches sockets: the responder and the
// browser see the narrow conn interface below, so the per-interface group
// socket layer shared with discovery and multicast can replace it alone.

// mDNS transport (RFC 6762 section 3).
const (
	// Port is the mDNS port.
	Port = 5353
	// ipTTL is the IP TTL / hop limit of everything sent (RFC 6762
	// section 11: older queriers drop anything else).
	ipTTL = 255
)

// The mDNS groups (RFC 6762 section 3).
var (
	Group4 = netip.MustParseAddr("224.0.0.251")
	Group6 = netip.MustParseAddr("ff02::fb")
)

// rxInfo is what arrives with a datagram.
type rxInfo struct {
	src     netip.AddrPort
	ifIndex int // arrival interface, 0 when unknown
	ttl     int // IP TTL or hop limit, -1 when unknown
}

// conn is one UDP socket of one family as the mDNS logic sees it.
type conn interface {
	read(b []byte) (int, rxInfo, error)
	// write sends b to dst out of interface ifIndex.
	write(b []byte, dst netip.AddrPort, ifIndex int) error
	close() error
}

// listen opens a socket of family 4 or 6. shared binds port 5353 with
// address sharing (other responders, Avahi, share the port) and joins the
// group on every link; otherwise an ephemeral port is bound (one-shot
// queries, answered by unicast).
func listen(family int, shared bool, links []netif.Interface, log *slog.Logger) (conn, error) {
	var lc net.ListenConfig
	port := 0
	if shared {
		port = Port
		lc.Control = func(_, _ string, c syscall.RawConn) error { return sockopt.ShareAddr(c) }
	}
	switch family {
	case 4:
		c, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:"+strconv.Itoa(port))
		if err != nil {
			return nil, fmt.Errorf("mdns: listening on UDP %d (IPv4): %w", port, err)
		}
		p := ipv4.NewPacketConn(c)
		if err := p.SetControlMessage(ipv4.FlagInterface|ipv4.FlagTTL, true); err != nil {
			c.Close()
			return nil, fmt.Errorf("mdns: receiving the interface of IPv4 datagrams: %w", err)
		}
		_ = p.SetMulticastTTL(ipTTL)
		_ = p.SetTTL(ipTTL)
		joined := 0
		for _, l := range links {
			if !shared || len(l.IPv4) == 0 {
				continue
			}
			if err := p.JoinGroup(&net.Interface{Index: l.Index, Name: l.Name}, &net.UDPAddr{IP: Group4.AsSlice()}); err != nil {
				log.Warn("mdns: joining 224.0.0.251 failed", "interface", l.Name, "err", err)
				continue
			}
			joined++
		}
		if shared && joined == 0 {
			c.Close()
			return nil, fmt.Errorf("mdns: joined %v on no interface", Group4)
		}
		return &conn4{p: p}, nil
	case 6:
		c, err := lc.ListenPacket(context.Background(), "udp6", "[::]:"+strconv.Itoa(port))
		if err != nil {
			return nil, fmt.Errorf("mdns: listening on UDP %d (IPv6): %w", port, err)
		}
		p := ipv6.NewPacketConn(c)
		if err := p.SetControlMessage(ipv6.FlagInterface|ipv6.FlagHopLimit, true); err != nil {
			c.Close()
			return nil, fmt.Errorf("mdns: receiving the interface of IPv6 datagrams: %w", err)
		}
		_ = p.SetMulticastHopLimit(ipTTL)
		_ = p.SetHopLimit(ipTTL)
		joined := 0
		for _, l := range links {
			if !shared || !l.IPv6LinkLocal.IsValid() {
				continue
			}
			if err := p.JoinGroup(&net.Interface{Index: l.Index, Name: l.Name}, &net.UDPAddr{IP: Group6.AsSlice()}); err != nil {
				log.Warn("mdns: joining ff02::fb failed", "interface", l.Name, "err", err)
				continue
			}
			joined++
		}
		if shared && joined == 0 {
			c.Close()
			return nil, fmt.Errorf("mdns: joined %v on no interface", Group6)
		}
		return &conn6{p: p}, nil
	}
	return nil, fmt.Errorf("mdns: address family %d", family)
}

type conn4 struct{ p *ipv4.PacketConn }

func (c *conn4) read(b []byte) (int, rxInfo, error) {
	n, cm, src, err := c.p.ReadFrom(b)
	if err != nil {
		return 0, rxInfo{}, err
	}
	ri := rxInfo{src: addrPort(src), ttl: -1}
	if cm != nil {
		ri.ifIndex, ri.ttl = cm.IfIndex, cm.TTL
	}
	return n, ri, nil
}

func (c *conn4) write(b []byte, dst netip.AddrPort, ifIndex int) error {
	var cm *ipv4.ControlMessage
	if ifIndex != 0 {
		cm = &ipv4.ControlMessage{IfIndex: ifIndex}
	}
	_, err := c.p.WriteTo(b, cm, net.UDPAddrFromAddrPort(dst))
	return err
}

func (c *conn4) close() error { return c.p.Close() }

type conn6 struct{ p *ipv6.PacketConn }

func (c *conn6) read(b []byte) (int, rxInfo, error) {
	n, cm, src, err := c.p.ReadFrom(b)
	if err != nil {
		return 0, rxInfo{}, err
	}
	ri := rxInfo{src: addrPort(src), ttl: -1}
	if cm != nil {
		ri.ifIndex, ri.ttl = cm.IfIndex, cm.HopLimit
	}
	return n, ri, nil
}

func (c *conn6) write(b []byte, dst netip.AddrPort, ifIndex int) error {
	var cm *ipv6.ControlMessage
	if ifIndex != 0 {
		cm = &ipv6.ControlMessage{IfIndex: ifIndex}
		if dst.Addr().Is6() && (dst.Addr().IsLinkLocalUnicast() || dst.Addr().IsLinkLocalMulticast()) {
			// A numeric zone: the net package's name-to-index cache is
			// shared by every network namespace a process enters.
			dst = netip.AddrPortFrom(dst.Addr().WithZone(strconv.Itoa(ifIndex)), dst.Port())
		}
	}
	_, err := c.p.WriteTo(b, cm, net.UDPAddrFromAddrPort(dst))
	return err
}

func (c *conn6) close() error { return c.p.Close() }

func addrPort(a net.Addr) netip.AddrPort {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
