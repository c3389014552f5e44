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

// link is one multicast-capable interface and its addresses.
type link struct {
	name  string
	index int
	v4    []netip.Prefix
	ll6   netip.Addr // link-local with zone; zero if none
	v6    []netip.Prefix
}

// selectLinks picks the interfaces named by specs with netif.Select (the
// default selection without specs) that can multicast.
func selectLinks(specs []string) ([]link, error) {
	sel, err := netif.Select(specs...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoInterface, err)
	}
	var out []link
	var unusable []string
	for _, ifi := range sel.Interfaces {
		if !ifi.CanMulticast() {
			unusable = append(unusable, ifi.Name)
			continue
		}
		l := link{name: ifi.Name, index: ifi.Index, ll6: ifi.IPv6LinkLocal, v6: ifi.IPv6}
		for _, a := range ifi.IPv4 {
			l.v4 = append(l.v4, a.Addr)
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		if len(unusable) > 0 {
			return nil, fmt.Errorf("%w: %s cannot multicast", ErrNoInterface, strings.Join(unusable, ", "))
		}
		return nil, fmt.Errorf("%w: no interface selected", ErrNoInterface)
	}
	return out, nil
}

// restrict keeps, for a server bound to specific addresses, the links that
// hold one and only those addresses. Without bound addresses, or with a
// wildcard among them, links are returned unchanged.
func restrict(links []link, bound []netip.Addr) []link {
	if len(bound) == 0 || slices.ContainsFunc(bound, netip.Addr.IsUnspecified) {
		return links
	}
	var out []link
	for _, l := range links {
		k := link{name: l.name, index: l.index}
		for _, b := range bound {
			b = b.Unmap().WithZone("")
			for _, p := range l.v4 {
				if p.Addr() == b {
					k.v4 = append(k.v4, p)
				}
			}
			if l.ll6.WithZone("") == b {
				k.ll6 = l.ll6
			}
			for _, p := range l.v6 {
				if p.Addr() == b {
					k.v6 = append(k.v6, p)
				}
			}
		}
		if len(k.v4) > 0 || k.ll6.IsValid() || len(k.v6) > 0 {
			out = append(out, k)
		}
	}
	return out
}

// addrs returns the link's addresses as published: IPv4, then global and
// ULA IPv6, then the link-local one (without zone).
func (l *link) addrs() []netip.Addr {
	var out []netip.Addr
	for _, p := range l.v4 {
		out = append(out, p.Addr())
	}
	for _, p := range l.v6 {
		out = append(out, p.Addr())
	}
	if l.ll6.IsValid() {
		out = append(out, l.ll6.WithZone(""))
	}
	return out
}

// onLink reports whether a datagram from src with IP TTL ttl (-1 unknown)
// surely comes from this link (RFC 6762 section 11): a source inside one of
// the link's subnets, an IPv6 link-local source, or a TTL of 255, which no
// routed datagram can still have.
func (l *link) onLink(src netip.Addr, ttl int) bool {
	src = src.Unmap().WithZone("")
	if ttl == ipTTL {
		return true
	}
	if src.Is6() && src.IsLinkLocalUnicast() {
		return true
	}
	for _, p := range l.v4 {
		if p.Contains(src) {
			return true
		}
	}
	for _, p := range l.v6 {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

func linkByIndex(links []link, i int) *link {
	for k := range links {
		if links[k].index == i {
			return &links[k]
		}
	}
	return nil
}
