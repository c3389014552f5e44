package discovery

import (
	"fmt"
	"net"
	"strings"

	"github.com/udpkit/udpkit/netif"
)

// selectLinks picks the interfaces named by specs with netif.Select (no
// specs: its default selection). An interface that can neither broadcast
// nor multicast (loopback, a point-to-point tunnel) carries no discovery,
// so naming only such interfaces is an error that says so.
func selectLinks(specs []string) ([]link, error) {
	sel, err := netif.Select(specs...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoInterface, err)
	}
	var usable []netif.Interface
	var unusable []string
	for _, ifi := range sel.Interfaces {
		if ifi.CanBroadcast() || ifi.CanMulticast() {
			usable = append(usable, ifi)
		} else {
			unusable = append(unusable, ifi.Name)
		}
	}
	if len(usable) == 0 {
		return nil, fmt.Errorf("%w: %s can neither broadcast nor multicast, so discovery cannot use it", ErrNoInterface, strings.Join(unusable, ", "))
	}
	return linksFrom(usable), nil
}

// linksFrom converts netif interfaces to links.
func linksFrom(ifs []netif.Interface) []link {
	out := make([]link, 0, len(ifs))
	for _, ifi := range ifs {
		up := ifi.Flags&net.FlagUp != 0
		l := link{
			name:      ifi.Name,
			index:     ifi.Index,
			broadcast: up && ifi.Flags&net.FlagBroadcast != 0,
			multicast: up && ifi.Flags&net.FlagMulticast != 0,
			ll6:       ifi.IPv6LinkLocal,
		}
		for _, a := range ifi.IPv4 {
			l.v4 = append(l.v4, v4addr{prefix: a.Addr, bcast: a.Broadcast})
		}
		for _, p := range ifi.IPv6 {
			l.v6 = append(l.v6, p.Addr())
		}
		out = append(out, l)
	}
	return out
}
