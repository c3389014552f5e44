package discovery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
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

func boundString(bound []netip.Addr) string {
	s := make([]string, len(bound))
	for i, b := range bound {
		s[i] = b.String()
	}
	return strings.Join(s, ", ")
}

// ifaceName returns the name of interface index i, from links if it is
// there, else from the system ("" when unknown).
func ifaceName(links []netif.Interface, i int) string {
	if l := netif.ByIndex(links, i); l != nil {
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
