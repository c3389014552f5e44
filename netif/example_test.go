package netif_test

import (
	"errors"
	"fmt"
	"log"

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
