package discovery

import (
	"fmt"
	"strings"

	"github.com/udpkit/udpkit/netif"
)

// selectLinks picks the interfaces named by specs with netif.Select (no
// specs: its default selection). An interface that can neither broadcast
// nor multicast (loopback, a point-to-point tunnel) carries no discovery,
// so naming only such interfaces is an error that says so.
func selectLinks(specs []string) ([]netif.Interface, error) {
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
	return usable, nil
}
