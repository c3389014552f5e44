package groupsock_test

import (
	"context"
	"log"
	"net/netip"

	"github.com/udpkit/udpkit/internal/groupsock"
	"github.com/udpkit/udpkit/netif"
)

// An mDNS responder's IPv4 socket: port 5353 shared with avahi-daemon,
// 224.0.0.251 joined on every multicast interface, TTL 255 (RFC 6762
// section 11), and each query answered out of the interface it came in on.
// (Not run: it would multicast on this machine's interfaces.)
func Example_mdns() {
	sel, err := netif.Select()
	if err != nil {
		log.Fatal(err)
	}
	c, err := groupsock.Listen(context.Background(), groupsock.Config{
		Family: 4, Port: 5353, Group: netip.MustParseAddr("224.0.0.251"),
		Join: true, RequireJoin: true, Interfaces: sel.Multicast(),
		TTL: 255, Share: groupsock.ShareAddrPort, OnlyJoined: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 9000)
	for {
		p, err := c.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		answer := buf[:p.N] // build the answer here
		if err := c.WriteGroup(answer, 5353, p.IfIndex); err != nil {
			log.Print(err)
		}
	}
}
