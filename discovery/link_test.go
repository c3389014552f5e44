package discovery

import (
	"net/netip"
	"testing"

	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

func TestDefaultInstance(t *testing.T) {
	d := DefaultInstance(9797, []string{"198.18.0.10"})
	if err := wire.ValidateInstance(d); err != nil || d == DefaultInstance(9797, []string{"198.18.0.11"}) {
		t.Errorf("default instance %q: %v", d, err)
	}
}

func TestLinkOnLink(t *testing.T) {
	l := netif.Interface{IPv4: []netif.IPv4Addr{{Addr: netip.MustParsePrefix("198.18.0.10/24")}}}
	for addr, want := range map[string]bool{
		"198.18.0.99": true, "::ffff:198.18.0.99": true, "198.18.1.99": false, "203.0.113.1": false,
		"fe80::1": true, "fd18::99": false, "2001:db8::1": false,
	} {
		if got := l.OnLink(netip.MustParseAddr(addr)); got != want {
			t.Errorf("onLink(%s) = %v, want %v", addr, got, want)
		}
	}
}
