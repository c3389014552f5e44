package mdns

import (
	"errors"
	"fmt"
	"net/netip"
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
// TTL of 255, which no routed datagram can still have, or a source that
// netif.Interface.OnLink places on l (an IPv4 subnet of l, IPv6
// link-local), or a source inside one of l's IPv6 prefixes. The last is
// mDNS's addition: RFC 6762 counts any local subnet, while udpkit
// discovery (netif's OnLink) trusts IPv6 only from link-local sources.
func onLink(l *netif.Interface, src netip.Addr, ttl int) bool {
	src = src.Unmap().WithZone("")
	if ttl == ipTTL || l.OnLink(src) {
		return true
	}
	for _, p := range l.IPv6 {
		if p.Contains(src) {
			return true
		}
	}
	return false
}
