package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"testing"

	"github.com/udpkit/udpkit/netif"
)

// TestIfacesJSON: the JSON of "ifaces --json", now the command's, is byte
// for byte what netif's MarshalJSON wrote before the types lost their
// encoding (the golden lines were produced by that code).
func TestIfacesJSON(t *testing.T) {
	rich := netif.Selection{
		Interfaces: []netif.Interface{
			{Name: "eth0", Index: 2, MTU: 1500, Flags: net.FlagUp | net.FlagBroadcast | net.FlagMulticast | net.FlagRunning,
				IPv4: []netif.IPv4Addr{
					{Addr: netip.MustParsePrefix("198.18.0.10/24"), Broadcast: netip.MustParseAddr("198.18.0.255")},
					{Addr: netip.MustParsePrefix("198.19.0.1/31")}},
				IPv6LinkLocal: netip.MustParseAddr("fe80::10%eth0"),
				IPv6:          []netip.Prefix{netip.MustParsePrefix("fd18::10/64"), netip.MustParsePrefix("2001:db8::1/128")}},
			{Name: "lo", Index: 1, MTU: 65536, Flags: net.FlagUp | net.FlagLoopback,
				IPv4: []netif.IPv4Addr{{Addr: netip.MustParsePrefix("127.0.0.1/8")}}, IPv6: []netip.Prefix{netip.MustParsePrefix("::1/128")}},
		},
		Skipped: []netif.Skipped{{Name: "wg0", Reason: netif.ReasonNoBcastMcast}, {Name: "eth9", Reason: netif.ReasonDown}},
	}
	tests := []struct {
		sel  netif.Selection
		want string
	}{
		{netif.Selection{}, `{"interfaces":[],"skipped":[]}`},
		{netif.Selection{Interfaces: []netif.Interface{{Name: "x"}}},
			`{"interfaces":[{"name":"x","index":0,"mtu":0,"flags":[],"can_broadcast":false,"can_multicast":false,"ipv4":[],"ipv6":[]}],"skipped":[]}`},
		{rich, `{"interfaces":[{"name":"eth0","index":2,"mtu":1500,"flags":["up","broadcast","multicast","running"],"can_broadcast":true,"can_multicast":true,"ipv4":[{"addr":"198.18.0.10/24","broadcast":"198.18.0.255"},{"addr":"198.19.0.1/31"}],"ipv6_link_local":"fe80::10%eth0","ipv6":["fd18::10/64","2001:db8::1/128"]},{"name":"lo","index":1,"mtu":65536,"flags":["up","loopback"],"can_broadcast":false,"can_multicast":false,"ipv4":[{"addr":"127.0.0.1/8"}],"ipv6":["::1/128"]}],"skipped":[{"name":"wg0","reason":"cannot broadcast or multicast"},{"name":"eth9","reason":"down"}]}`},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := json.NewEncoder(&b).Encode(selectionJSON(tt.sel)); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != tt.want+"\n" {
			t.Errorf("got\n %s\nwant\n %s", got, tt.want)
		}
	}
}
