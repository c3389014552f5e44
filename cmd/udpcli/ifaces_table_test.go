package main

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/udpkit/udpkit/netif"
)

// TestIfaceTable: the text of udpcli ifaces, one block per interface and
// one address per line, blanks trimmed at the ends of rows.
func TestIfaceTable(t *testing.T) {
	up := net.FlagUp | net.FlagBroadcast | net.FlagMulticast | net.FlagRunning
	sel := netif.Selection{
		Interfaces: []netif.Interface{
			{Name: "eth0", Index: 2, MTU: 1500, Flags: up,
				IPv4:          []netif.IPv4Addr{{Addr: netip.MustParsePrefix("198.18.0.10/24"), Broadcast: netip.MustParseAddr("198.18.0.255")}},
				IPv6LinkLocal: netip.MustParseAddr("fe80::10%eth0"),
				IPv6:          []netip.Prefix{netip.MustParsePrefix("fd18::10/64")}},
			{Name: "eth1", Index: 3, MTU: 1500, Flags: up,
				IPv4: []netif.IPv4Addr{{Addr: netip.MustParsePrefix("198.18.1.10/24"), Broadcast: netip.MustParseAddr("198.18.1.255")},
					{Addr: netip.MustParsePrefix("198.18.3.4/31")}}},
			{Name: "wg0", Index: 4, MTU: 1420, Flags: net.FlagUp | net.FlagPointToPoint | net.FlagRunning,
				IPv4: []netif.IPv4Addr{{Addr: netip.MustParsePrefix("10.9.0.1/32")}}},
			{Name: "v6only", Index: 5, MTU: 1280, IPv6: []netip.Prefix{netip.MustParsePrefix("fd18::5/64")}},
		},
		Skipped: []netif.Skipped{{Name: "lo", Reason: netif.ReasonLoopback}, {Name: "eth2", Reason: "not matched"}},
	}
	var buf bytes.Buffer
	if err := ifaceTable(&buf, sel); err != nil {
		t.Fatal(err)
	}
	want := `NAME    INDEX  MTU   FLAGS                           IPV4            BROADCAST     IPV6
eth0    2      1500  up|broadcast|multicast|running  198.18.0.10/24  198.18.0.255  fe80::10%eth0
                                                                                   fd18::10/64
eth1    3      1500  up|broadcast|multicast|running  198.18.1.10/24  198.18.1.255  -
                                                     198.18.3.4/31   -
wg0     4      1420  up|pointtopoint|running         10.9.0.1/32     -             -
v6only  5      1280  -                               -               -             fd18::5/64

SKIPPED  REASON
lo       loopback
eth2     not matched
`
	if got := buf.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}

	buf.Reset()
	if err := ifaceTable(&buf, netif.Selection{}); err != nil || buf.String() != "NAME  INDEX  MTU  FLAGS  IPV4  BROADCAST  IPV6\n(none)\n" {
		t.Errorf("empty selection: %v\n%q", err, buf.String())
	}
}
