package netif

import (
	"net/netip"
	"slices"
)

// Restrict keeps, for a socket bound to specific addresses, the interfaces
// of links that hold one of bound, each with only those addresses (bound
// addresses are compared unmapped and without zone). A wildcard keeps
// every address of its family: 0.0.0.0 every IPv4 address, :: every IPv6
// one (an IPv6-only socket must not be announced at IPv4 addresses, nor an
// IPv4 socket at IPv6 ones; a dual-stack socket is given as both). Without
// bound addresses it returns links unchanged. Discovery and mDNS announce
// only what a server is bound to.
func Restrict(links []Interface, bound []netip.Addr) []Interface {
	if len(bound) == 0 {
		return links
	}
	any4 := slices.Contains(bound, netip.IPv4Unspecified())
	any6 := slices.ContainsFunc(bound, func(a netip.Addr) bool { return a.Is6() && a.IsUnspecified() })
	if any4 && any6 {
		return links
	}
	var out []Interface
	for _, l := range links {
		k := l
		k.IPv4, k.IPv6, k.IPv6LinkLocal = nil, nil, netip.Addr{}
		if any4 {
			k.IPv4 = l.IPv4
		}
		if any6 {
			k.IPv6, k.IPv6LinkLocal = l.IPv6, l.IPv6LinkLocal
		}
		for _, b := range bound {
			b = b.Unmap().WithZone("")
			if b.IsUnspecified() {
				continue
			}
			for _, a := range l.IPv4 {
				if !any4 && a.Addr.Addr() == b {
					k.IPv4 = append(k.IPv4, a)
				}
			}
			if !any6 && l.IPv6LinkLocal.WithZone("") == b {
				k.IPv6LinkLocal = l.IPv6LinkLocal
			}
			for _, p := range l.IPv6 {
				if !any6 && p.Addr() == b {
					k.IPv6 = append(k.IPv6, p)
				}
			}
		}
		if k.HasAddr() {
			out = append(out, k)
		}
	}
	return out
}

// ByIndex returns the interface of links with index i (a pointer into
// links), or nil: how a receiver maps a datagram's arrival interface
// (IP_PKTINFO) to its model.
func ByIndex(links []Interface, i int) *Interface {
	for k := range links {
		if links[k].Index == i {
			return &links[k]
		}
	}
	return nil
}
