package netaddr

import (
	"net"
	"net/netip"
	"testing"
)

type strAddr string

func (s strAddr) Network() string { return "udp" }
func (s strAddr) String() string  { return string(s) }

func TestAddrPort(t *testing.T) {
	for _, tc := range []struct {
		in       net.Addr
		want     string
		unmapped string
	}{
		{&net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 9797}, "[::ffff:127.0.0.1]:9797", "127.0.0.1:9797"},
		{&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 1}, "127.0.0.1:1", "127.0.0.1:1"},
		{&net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: 2, Zone: "eth0"}, "[fe80::1%eth0]:2", "[fe80::1%eth0]:2"},
		{strAddr("[::1]:3"), "[::1]:3", "[::1]:3"},
		{strAddr("not an address"), "invalid AddrPort", "invalid AddrPort"},
		{nil, "invalid AddrPort", "invalid AddrPort"},
	} {
		if got := AddrPort(tc.in).String(); got != tc.want {
			t.Errorf("AddrPort(%v) = %s, want %s", tc.in, got, tc.want)
		}
		if got := Unmapped(tc.in).String(); got != tc.unmapped {
			t.Errorf("Unmapped(%v) = %s, want %s", tc.in, got, tc.unmapped)
		}
	}
	ua := &net.UDPAddr{IP: net.ParseIP("198.18.0.1"), Port: 1}
	if n := testing.AllocsPerRun(100, func() { AddrPort(ua) }); n != 0 {
		t.Errorf("AddrPort of a *net.UDPAddr allocates %.0f times", n)
	}
	_ = netip.AddrPort{}
}
