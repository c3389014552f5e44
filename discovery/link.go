package discovery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// ErrNoInterface is returned (wrapped, with the reason) when no selected
// interface can carry discovery traffic: none matched the selection, none
// holds one of the server's bound addresses (a server bound to loopback
// only is not announced beyond loopback), or no socket could be opened on
// any of them.
var ErrNoInterface = errors.New("discovery: no usable interface")

// link is one interface as discovery uses it. It is filled from the netif
// selection; tests build links by hand.
type link struct {
	name      string
	index     int
	broadcast bool // up and broadcast-capable
	multicast bool // up and multicast-capable
	v4        []v4addr
	ll6       netip.Addr // IPv6 link-local address with zone; zero if none
	v6        []netip.Addr
}

type v4addr struct {
	prefix netip.Prefix
	bcast  netip.Addr // directed broadcast address; zero if none
}

// addrs returns the link's addresses as announced: IPv4 first (those in the
// same subnet as near first, when near is IPv4), then IPv6 link-local
// (without zone) and other IPv6 addresses.
func (l *link) addrs(near netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(l.v4)+1+len(l.v6))
	for _, a := range l.v4 {
		if near.Is4() && a.prefix.Contains(near) {
			out = append(out, a.prefix.Addr())
		}
	}
	for _, a := range l.v4 {
		if !(near.Is4() && a.prefix.Contains(near)) {
			out = append(out, a.prefix.Addr())
		}
	}
	if l.ll6.IsValid() {
		out = append(out, l.ll6.WithZone(""))
	}
	return append(out, l.v6...)
}

func (l *link) has(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range l.v4 {
		if p.prefix.Addr() == a {
			return true
		}
	}
	return l.ll6.WithZone("") == a || slices.Contains(l.v6, a)
}

// restrict keeps the links that hold one of bound and, on each, only the
// bound addresses. With no bound address or an unspecified one (a wildcard
// bind) it returns links unchanged.
func restrict(links []link, bound []netip.Addr) []link {
	if len(bound) == 0 || slices.ContainsFunc(bound, netip.Addr.IsUnspecified) {
		return links
	}
	var out []link
	for _, l := range links {
		keep := l
		keep.v4 = nil
		keep.v6 = nil
		keep.ll6 = netip.Addr{}
		for _, b := range bound {
			b = b.Unmap().WithZone("")
			for _, a := range l.v4 {
				if a.prefix.Addr() == b {
					keep.v4 = append(keep.v4, a)
				}
			}
			if l.ll6.WithZone("") == b {
				keep.ll6 = l.ll6
			}
			if slices.Contains(l.v6, b) {
				keep.v6 = append(keep.v6, b)
			}
		}
		if len(keep.v4) > 0 || keep.ll6.IsValid() || len(keep.v6) > 0 {
			out = append(out, keep)
		}
	}
	return out
}

func boundString(bound []netip.Addr) string {
	s := make([]string, len(bound))
	for i, b := range bound {
		s[i] = b.String()
	}
	return strings.Join(s, ", ")
}

// linkByIndex returns the link with index i, or nil.
func linkByIndex(links []link, i int) *link {
	for k := range links {
		if links[k].index == i {
			return &links[k]
		}
	}
	return nil
}

// ifaceName returns the name of interface index i, from links if it is
// there, else from the system ("" when unknown).
func ifaceName(links []link, i int) string {
	if l := linkByIndex(links, i); l != nil {
		return l.name
	}
	if i == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(i); err == nil {
		return ifi.Name
	}
	return fmt.Sprintf("if%d", i)
}

// linkNames returns the interface names of links, in order.
func linkNames(links []link) []string {
	out := make([]string, len(links))
	for i, l := range links {
		out[i] = l.name
	}
	return out
}

// onLink reports whether a is surely a neighbour on link l: inside one of
// its IPv4 subnets, or an IPv6 link-local address.
func (l *link) onLink(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is6() {
		return a.IsLinkLocalUnicast()
	}
	for _, v := range l.v4 {
		if v.prefix.Contains(a) {
			return true
		}
	}
	return false
}
