package netif

import (
	"net/netip"
	"slices"
)

// Restrict keeps, for a socket bound to specific addresses, the interfaces
// of links that hold one of bound, each with only those addresses (bound
// addresses are compared unmapped and without zone). Without bound
// addresses, or with a wildcard among them, it returns links unchanged.
// Discovery and mDNS announce only what a server is bound to.
func Restrict(links []Interface, bound []netip.Addr) []Interface {
	if len(bound) == 0 || slices.ContainsFunc(bound, netip.Addr.IsUnspecified) {
		return links
	}
	var out []Interface
	for _, l := range links {
		k := l
		k.IPv4, k.IPv6, k.IPv6LinkLocal = nil, nil, netip.Addr{}
		for _, b := range bound {
			b = b.Unmap().WithZone("")
			for _, a := range l.IPv4 {
				if a.Addr.Addr() == b {
					k.IPv4 = append(k.IPv4, a)
				}
			}
			if l.IPv6LinkLocal.WithZone("") == b {
				k.IPv6LinkLocal = l.IPv6LinkLocal
			}
			for _, p := range l.IPv6 {
				if p.Addr() == b {
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
