package udpserver

import (
	"net"
	"net/netip"
	"slices"
	"testing"
)

// Bound gives a dual-stack wildcard socket as both wildcards, an IPv6-only
// one as :: alone, so that the announcement lists only addresses the
// socket receives on.
func TestBoundWildcardFamilies(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want []netip.Addr
	}{
		{":0", []netip.Addr{netip.IPv6Unspecified(), netip.IPv4Unspecified()}},
		{"[::]:0", []netip.Addr{netip.IPv6Unspecified()}},
		{"0.0.0.0:0", []netip.Addr{netip.IPv4Unspecified()}},
	} {
		c, err := Listen(t.Context(), tc.addr)
		if err != nil {
			t.Skipf("%s: %v", tc.addr, err)
		}
		_, got, _ := Bound([]*net.UDPConn{c})
		c.Close()
		if !slices.Equal(got, tc.want) {
			t.Errorf("Bound(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}
