package mdns

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/udpkit/udpkit/netif"
)

// ErrNoInterface is returned (wrapped, with the reason) when no selected
// interface can carry mDNS: none matched, none can multicast, or none holds
// one of the bound addresses.
var ErrNoInterface = errors.New("mdns: no usable interface")

// selectLinks picks the interfaces named by specs with netif.Select (the
// default selection without specs) that can multicast.
func selectLinks(specs []string) ([]netif.Interface, error) {
	sel, err := netif.Select(specs...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoInterface, err)
	}
	var out []netif.Interface
	var unusable []string
	for _, ifi := range sel.Interfaces {
		if !ifi.CanMulticast() {
			unusable = append(unusable, ifi.Name)
			continue
		}
		out = append(out, ifi)
	}
	if len(out) == 0 {
		if len(unusable) > 0 {
			return nil, fmt.Errorf("%w: %s cannot multicast", ErrNoInterface, strings.Join(unusable, ", "))
		}
		return nil, fmt.Errorf("%w: no interface selected", ErrNoInterface)
	}
	return out, nil
}

// restrict keeps, for a server bound to specific addresses, the interfaces
// that hold one, with only those addresses. Without bound addresses, or
// with a wildcard among them, links are returned unchanged.
func restrict(links []netif.Interface, bound []netip.Addr) []netif.Interface {
	if len(bound) == 0 || slices.ContainsFunc(bound, netip.Addr.IsUnspecified) {
		return links
	}
	var out []netif.Interface
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

// linkAddrs returns an interface's addresses as published: IPv4, then
// global and ULA IPv6, then the link-local one (without zone).
func linkAddrs(l *netif.Interface) []netip.Addr {
	var out []netip.Addr
	for _, a := range l.IPv4 {
		out = append(out, a.Addr.Addr())
	}
	for _, p := range l.IPv6 {
		out = append(out, p.Addr())
	}
	if l.IPv6LinkLocal.IsValid() {
		out = append(out, l.IPv6LinkLocal.WithZone(""))
	}
	return out
}

// onLink reports whether a datagram from src with IP TTL ttl (-1 unknown)
// that arrived on l surely comes from l's link (RFC 6762 section 11): a
// source inside one of l's subnets (IPv4 or IPv6), an IPv6 link-local
// source, or a TTL of 255, which no routed datagram can still have.
func onLink(l *netif.Interface, src netip.Addr, ttl int) bool {
	src = src.Unmap().WithZone("")
	if ttl == ipTTL || src.Is6() && src.IsLinkLocalUnicast() {
		return true
	}
	for _, a := range l.IPv4 {
		if a.Addr.Contains(src) {
			return true
		}
	}
	for _, p := range l.IPv6 {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

func linkByIndex(links []netif.Interface, i int) *netif.Interface {
	for k := range links {
		if links[k].Index == i {
			return &links[k]
		}
	}
	return nil
}
