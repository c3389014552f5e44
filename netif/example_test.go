package netif_test

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"

	"github.com/udpkit/udpkit/netif"
)

// Pick the interfaces a LAN service should use by default, and show the
// ones it left out.
func ExampleSelect() {
	sel, err := netif.Select()
	if err != nil && !errors.Is(err, netif.ErrNoMatch) {
		log.Fatal(err)
	}
	for _, ifi := range sel.Multicast() {
		fmt.Println("multicast on", ifi.Name, ifi.Index)
	}
	for _, sk := range sel.Skipped {
		fmt.Printf("skipped %s: %s\n", sk.Name, sk.Reason)
	}
}

// Interfaces named by a user (-I), as names, prefixes or a go-sockaddr
// template.
func ExampleSelect_specs() {
	sel, err := netif.Select("lo", "198.18.0.0/15", `{{ GetPrivateInterfaces | include "flags" "broadcast" }}`)
	if err != nil {
		fmt.Println(err) // e.g. no interface matches "198.18.0.0/15"; available: lo, eth0
		return
	}
	fmt.Println(sel.Names())
}

func ExampleFormatTable() {
	sel := netif.Selection{
		Interfaces: []netif.Interface{{
			Name:          "eth0",
			Index:         2,
			Flags:         net.FlagUp | net.FlagBroadcast | net.FlagMulticast,
			MTU:           1500,
			IPv4:          []netif.IPv4Addr{{Addr: netip.MustParsePrefix("198.18.0.10/24"), Broadcast: netip.MustParseAddr("198.18.0.255")}},
			IPv6LinkLocal: netip.MustParseAddr("fe80::10%eth0"),
			IPv6:          []netip.Prefix{netip.MustParsePrefix("fd18::10/64")},
		}},
		Skipped: []netif.Skipped{{Name: "lo", Reason: netif.ReasonLoopback}},
	}
	netif.FormatTable(os.Stdout, sel)
	// Output:
	// NAME  INDEX  MTU   FLAGS                   IPV4            BROADCAST     IPV6
	// eth0  2      1500  up|broadcast|multicast  198.18.0.10/24  198.18.0.255  fe80::10%eth0
	//                                                                          fd18::10/64
	//
	// SKIPPED  REASON
	// lo       loopback
}
