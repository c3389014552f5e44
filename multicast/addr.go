package multicast

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// DefaultPort is the port of a group given without one (PROTOCOL.md
// section 8): the data port, 9797.
const DefaultPort = wire.DataPort

// ErrUnresolved is wrapped by ParsePeer when a peer's host name does not
// resolve: bad input, but not a malformed one.
var ErrUnresolved = errors.New("the name could not be resolved")

// ParseGroup parses GROUP[:PORT] ("239.1.2.3:5000", "[ff02::1234%eth0]",
// "ff05::1"): a multicast address, zone kept, with DefaultPort when none is
// given. Port 0 is refused: it cannot be joined.
func ParseGroup(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		a, aerr := netip.ParseAddr(strings.Trim(s, "[]"))
		if aerr != nil {
			return netip.AddrPort{}, fmt.Errorf("bad group %q: want GROUP[:PORT], such as 239.1.2.3:9797 or [ff02::1234%%eth0]:9797", s)
		}
		ap = netip.AddrPortFrom(a, DefaultPort)
	}
	if !ap.Addr().IsMulticast() {
		return netip.AddrPort{}, fmt.Errorf("%v is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)", ap.Addr())
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("bad group %q: port 0 cannot be joined; give a port from 1 to 65535, or none for %d", s, DefaultPort)
	}
	return ap, nil
}

// ParsePeer parses a test participant, ADDRESS[:PORT] or a host name, for
// group: the port defaults to the group's, the address must be a unicast
// address of the group's family (not multicast, unspecified or a broadcast
// address of this host's subnets). A name is resolved with lookup (nil:
// names are refused) and its first address of the group's family is taken;
// a name that does not resolve is an error wrapping ErrUnresolved.
func ParsePeer(s string, group netip.AddrPort, lookup func(name string) ([]netip.Addr, error)) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		a, aerr := netip.ParseAddr(strings.Trim(s, "[]"))
		if aerr != nil {
			if strings.ContainsAny(s, "[]%") || lookup == nil {
				return netip.AddrPort{}, fmt.Errorf("bad peer %q: want ADDRESS[:PORT] or a host name", s)
			}
			ips, lerr := lookup(s)
			if lerr != nil || len(ips) == 0 {
				msg := "no address"
				if lerr != nil {
					msg = lerr.Error()
				}
				return netip.AddrPort{}, fmt.Errorf("peer %q: %w (%s)", s, ErrUnresolved, msg)
			}
			for _, x := range ips {
				if x.Unmap().Is4() == group.Addr().Is4() {
					a = x.Unmap()
					break
				}
			}
			if !a.IsValid() {
				return netip.AddrPort{}, fmt.Errorf("peer %q has no address of the group's family", s)
			}
		}
		ap = netip.AddrPortFrom(a, group.Port())
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	a := ap.Addr()
	if a.Is4() != group.Addr().Is4() {
		return netip.AddrPort{}, fmt.Errorf("peer %v is not of the group's address family (%v)", a, group.Addr())
	}
	switch {
	case a.IsMulticast():
		return netip.AddrPort{}, fmt.Errorf("peer %v is a multicast address: a PEER is another participant's unicast address (the group is the first argument)", a)
	case a.IsUnspecified():
		return netip.AddrPort{}, fmt.Errorf("peer %v is the unspecified address: give the participant's unicast address", a)
	case netif.IsBroadcast(a):
		return netip.AddrPort{}, fmt.Errorf("peer %v is a broadcast address: give the participant's unicast address", a)
	case ap.Port() == 0:
		return netip.AddrPort{}, fmt.Errorf("peer %v: port 0", a)
	}
	return ap, nil
}

// ParseSource parses the source of a source-specific join for group: a
// unicast address of the group's family, or "" for none (any source).
func ParseSource(s string, group netip.Addr) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Unmap().Is4() != group.Is4() || a.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("bad source %q: want a unicast address of the group's family", s)
	}
	return a.Unmap(), nil
}

// ParsePeers parses a test's PEER list with ParsePeer and leaves out this
// participant: a peer at one of this host's addresses on the group's port
// (IsSelf). As omping's, the list may so name every host of the group, and
// the same command line runs on each of them. The first bad peer's error is
// returned as ParsePeer gave it.
func ParsePeers(list []string, group netip.AddrPort, lookup func(name string) ([]netip.Addr, error)) ([]netip.AddrPort, error) {
	var peers []netip.AddrPort
	for _, s := range list {
		p, err := ParsePeer(s, group, lookup)
		if err != nil {
			return nil, err
		}
		if !IsSelf(p, group) {
			peers = append(peers, p)
		}
	}
	return peers, nil
}

// IsSelf reports whether peer is this participant of a test of group: one
// of this host's addresses (netif.IsLocal) on the group's port, where the
// test listens.
func IsSelf(peer, group netip.AddrPort) bool {
	return peer.Port() == group.Port() && netif.IsLocal(peer.Addr())
}
