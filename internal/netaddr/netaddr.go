// Package netaddr converts the net package's addresses to net/netip's, once
// for all of udpkit (the conversion had been written four times, with
// small differences), and holds the checks of host:port strings that the
// commands share (hostport.go): form and port, numeric hosts that must
// never reach a resolver, multicast literals, a host and port given apart.
package netaddr

import (
	"net"
	"net/netip"
)

// AddrPort returns a as a netip.AddrPort: the address as the socket
// reported it (an IPv4-mapped IPv6 address stays mapped; callers that key
// by sender unmap), with its zone. A *net.UDPAddr converts without
// allocating; another net.Addr is parsed from its String form; nil and
// unparsable addresses give the zero AddrPort.
func AddrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	case nil:
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// Unmapped returns AddrPort(a) with an IPv4-mapped address turned into
// IPv4: one sender, one key, whichever socket it reached.
func Unmapped(a net.Addr) netip.AddrPort {
	ap := AddrPort(a)
	if ap.Addr().Is4In6() {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return ap
}

// HostKey returns the host a source address stands for, as udpkit counts
// hosts (rate limits, de-duplication shares, the sockets' spreading and
// quarantine): the IPv4 address (unmapped), or the /64 prefix of an IPv6
// address, zone dropped.
func HostKey(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}
