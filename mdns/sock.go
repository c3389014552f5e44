package mdns

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/udpkit/udpkit/internal/groupsock"
	"github.com/udpkit/udpkit/netif"
)

// This file is the only one that touches sockets: the responder and the
// browser see the narrow conn interface below, implemented by the group
// socket layer shared with discovery and multicast (internal/groupsock).

// mDNS transport (RFC 6762 section 3).
const (
	// Port is the mDNS port.
	Port = 5353
	// ipTTL is the IP TTL / hop limit of what is sent to the groups (RFC
	// 6762 section 11: older queriers drop anything else).
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

// listen opens a socket of family 4 or 6. shared binds port 5353, shared
// with other responders (Avahi sets SO_REUSEADDR and SO_REUSEPORT), and
// joins the group on every interface that has an address of the family;
// otherwise an ephemeral port is bound (one-shot queries, answered by
// unicast). Datagrams to the group loop back, so that another responder on
// this host (Avahi) hears ours.
func listen(family int, shared bool, links []netif.Interface, log *slog.Logger) (conn, error) {
	cfg := groupsock.Config{Family: family, TTL: ipTTL, Loopback: true, Logger: log}
	if shared {
		cfg.Port, cfg.Share, cfg.Join, cfg.RequireJoin = Port, groupsock.ShareAddrPort, true, true
		cfg.Group = Group4
		if family == 6 {
			cfg.Group = Group6
		}
		for _, l := range links {
			if (family == 4 && len(l.IPv4) > 0) || (family == 6 && l.IPv6LinkLocal.IsValid()) {
				cfg.Interfaces = append(cfg.Interfaces, l)
			}
		}
	}
	c, err := groupsock.Listen(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("mdns: UDP %d (IPv%d): %w", cfg.Port, family, err)
	}
	for _, m := range c.Memberships() {
		if m.Err != nil {
			log.Warn("mdns: joining the group failed", "interface", m.Interface.Name, "group", cfg.Group, "err", m.Err)
		}
	}
	return gconn{c}, nil
}

type gconn struct{ c *groupsock.Conn }

func (g gconn) read(b []byte) (int, rxInfo, error) {
	p, err := g.c.ReadFrom(b)
	if err != nil {
		return 0, rxInfo{}, err
	}
	return p.N, rxInfo{src: p.Src, ifIndex: p.IfIndex, ttl: p.TTL}, nil
}

func (g gconn) write(b []byte, dst netip.AddrPort, ifIndex int) error {
	return g.c.WriteTo(b, dst, ifIndex)
}

func (g gconn) close() error { return g.c.Close() }
