package discovery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/udpkit/udpkit/netif"
)

// ErrNoInterface is returned (wrapped, with the reason) when no selected
// interface can carry discovery traffic: none matched the selection, none
// holds one of the server's bound addresses (a server bound to loopback
// only is not announced beyond loopback), or no socket could be opened on
// any of them.
var ErrNoInterface = errors.New("discovery: no usable interface")

// announced returns the addresses of interface l as announced on it: IPv4
// first (those in the same subnet as near first, when near is IPv4), then
// IPv6 link-local (without zone) and other IPv6 addresses.
func announced(l *netif.Interface, near netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(l.IPv4)+1+len(l.IPv6))
	for _, a := range l.IPv4 {
		if near.Is4() && a.Addr.Contains(near) {
			out = append(out, a.Addr.Addr())
		}
	}
	for _, a := range l.IPv4 {
		if !(near.Is4() && a.Addr.Contains(near)) {
			out = append(out, a.Addr.Addr())
		}
	}
	if l.IPv6LinkLocal.IsValid() {
		out = append(out, l.IPv6LinkLocal.WithZone(""))
	}
	for _, p := range l.IPv6 {
		out = append(out, p.Addr())
	}
	return out
}

// restrict keeps the interfaces that hold one of bound and, on each, only
// the bound addresses. With no bound address or an unspecified one (a
// wildcard bind) it returns links unchanged.
func restrict(links []netif.Interface, bound []netip.Addr) []netif.Interface {
	if len(bound) == 0 || slices.ContainsFunc(bound, netip.Addr.IsUnspecified) {
		return links
	}
	var out []netif.Interface
	for _, l := range links {
		keep := l
		keep.IPv4 = nil
		keep.IPv6 = nil
		keep.IPv6LinkLocal = netip.Addr{}
		for _, b := range bound {
			b = b.Unmap().WithZone("")
			for _, a := range l.IPv4 {
				if a.Addr.Addr() == b {
					keep.IPv4 = append(keep.IPv4, a)
				}
			}
			if l.IPv6LinkLocal.WithZone("") == b {
				keep.IPv6LinkLocal = l.IPv6LinkLocal
			}
			for _, p := range l.IPv6 {
				if p.Addr() == b {
					keep.IPv6 = append(keep.IPv6, p)
				}
			}
		}
		if keep.HasAddr() {
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
func linkByIndex(links []netif.Interface, i int) *netif.Interface {
	for k := range links {
		if links[k].Index == i {
			return &links[k]
		}
	}
	return nil
}

// ifaceName returns the name of interface index i, from links if it is
// there, else from the system ("" when unknown).
func ifaceName(links []netif.Interface, i int) string {
	if l := linkByIndex(links, i); l != nil {
		return l.Name
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
func linkNames(links []netif.Interface) []string {
	out := make([]string, len(links))
	for i, l := range links {
		out[i] = l.Name
	}
	return out
}
