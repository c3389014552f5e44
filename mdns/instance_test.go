package mdns

import (
	"net/netip"
	"slices"
	"testing"
)

func TestInstanceAddrPorts(t *testing.T) {
	in := Instance{Port: 8080, Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("fe80::1%eth0")}}
	want := []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:8080"), netip.MustParseAddrPort("[fe80::1%eth0]:8080")}
	if got := in.AddrPorts(); !slices.Equal(got, want) {
		t.Errorf("AddrPorts = %v, want %v", got, want)
	}
	if got := (Instance{Port: 1}).AddrPorts(); got != nil {
		t.Errorf("no address: %v, want nil", got)
	}
}
