package netif

import (
	"net/netip"
	"testing"
)

func TestRestrict(t *testing.T) {
	links := []Interface{
		{Index: 2, Name: "a", IPv4: []IPv4Addr{{Addr: netip.MustParsePrefix("198.18.1.10/24")}, {Addr: netip.MustParsePrefix("198.18.2.10/24")}},
			IPv6LinkLocal: netip.MustParseAddr("fe80::1%a"), IPv6: []netip.Prefix{netip.MustParsePrefix("fd18::1/64")}},
		{Index: 3, Name: "b", IPv4: []IPv4Addr{{Addr: netip.MustParsePrefix("198.18.3.10/24")}}},
	}
	if got := Restrict(links, nil); len(got) != 2 {
		t.Errorf("no bound: %d links", len(got))
	}
	if got := Restrict(links, []netip.Addr{netip.IPv6Unspecified(), netip.IPv4Unspecified()}); len(got) != 2 || len(got[0].IPv4) != 2 || len(got[0].IPv6) != 1 {
		t.Errorf("both wildcards: %+v", got)
	}
	// An IPv6-only wildcard socket is not announced at IPv4 addresses
	// (it would draw datagrams it never receives), nor an IPv4 one at
	// IPv6 addresses.
	if got := Restrict(links, []netip.Addr{netip.IPv6Unspecified()}); len(got) != 1 || got[0].Name != "a" || len(got[0].IPv4) != 0 || len(got[0].IPv6) != 1 || !got[0].IPv6LinkLocal.IsValid() {
		t.Errorf("IPv6 wildcard: %+v", got)
	}
	if got := Restrict(links, []netip.Addr{netip.IPv4Unspecified()}); len(got) != 2 || len(got[0].IPv4) != 2 || len(got[0].IPv6) != 0 || got[0].IPv6LinkLocal.IsValid() {
		t.Errorf("IPv4 wildcard: %+v", got)
	}
	// An IPv6 wildcard and one IPv4 address: all IPv6, that IPv4 address.
	if got := Restrict(links, []netip.Addr{netip.IPv6Unspecified(), netip.MustParseAddr("198.18.3.10")}); len(got) != 2 || len(got[0].IPv4) != 0 || len(got[1].IPv4) != 1 {
		t.Errorf("IPv6 wildcard and 198.18.3.10: %+v", got)
	}
	got := Restrict(links, []netip.Addr{netip.MustParseAddr("::ffff:198.18.2.10"), netip.MustParseAddr("fe80::1")})
	if len(got) != 1 || got[0].Name != "a" || len(got[0].IPv4) != 1 || got[0].IPv4[0].Addr.Addr() != netip.MustParseAddr("198.18.2.10") ||
		!got[0].IPv6LinkLocal.IsValid() || len(got[0].IPv6) != 0 {
		t.Errorf("restricted to 198.18.2.10 and fe80::1: %+v", got)
	}
	if got := Restrict(links, []netip.Addr{netip.MustParseAddr("127.0.0.1")}); len(got) != 0 {
		t.Errorf("foreign address: %+v", got)
	}
	if l := ByIndex(links, 3); l == nil || l != &links[1] {
		t.Errorf("ByIndex(3) = %v", l)
	}
	if l := ByIndex(links, 9); l != nil {
		t.Errorf("ByIndex(9) = %v", l)
	}
}
