package multicast

import (
	"net/netip"
	"testing"
)

func TestDiscoveredAddr(t *testing.T) {
	ap := netip.MustParseAddrPort
	g4, g6 := ap("239.1.2.3:9"), ap("[ff02::1234]:9")
	for _, tc := range []struct {
		addrs []netip.AddrPort
		group netip.AddrPort
		want  string
	}{
		{[]netip.AddrPort{ap("[fe80::1%eth0]:9"), ap("198.18.0.1:9")}, g4, "198.18.0.1:9"},
		{[]netip.AddrPort{ap("[fe80::1%eth0]:9"), ap("[fd18::1]:9")}, g6, "[fd18::1]:9"},
		{[]netip.AddrPort{ap("[fe80::1%eth0]:9")}, g6, "[fe80::1%eth0]:9"},
		{[]netip.AddrPort{ap("[::ffff:198.18.0.2]:9")}, g4, "198.18.0.2:9"},
		{[]netip.AddrPort{ap("0.0.0.0:9"), ap("224.0.0.1:9")}, g4, "invalid AddrPort"},
		{[]netip.AddrPort{ap("198.18.0.1:9")}, g6, "invalid AddrPort"},
	} {
		got, ok := discoveredAddr(tc.addrs, tc.group)
		if got.String() != tc.want || ok != got.IsValid() {
			t.Errorf("discoveredAddr(%v, %v) = %v, %v; want %s", tc.addrs, tc.group, got, ok, tc.want)
		}
	}
}

// DefaultTestConfig spells out exactly what a zero TestConfig stands for.
func TestDefaultTestConfig(t *testing.T) {
	if z, d := (TestConfig{}).withDefaults(), DefaultTestConfig().withDefaults(); z.Count != d.Count ||
		z.Interval != d.Interval || z.StartWait != d.StartWait || z.Linger != d.Linger || z.Size != d.Size {
		t.Errorf("zero %+v\ndefault %+v", z, d)
	}
	if DefaultConfig().TTL != DefaultTTL {
		t.Error("DefaultConfig().TTL")
	}
}
