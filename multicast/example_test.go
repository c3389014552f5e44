package multicast_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/udpkit/udpkit/multicast"
)

// A listener that prints where each datagram of the group came from and
// how it arrived.
func ExampleListen() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	group := netip.MustParseAddrPort("239.255.0.1:5000")
	c, err := multicast.Listen(ctx, group, multicast.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	for _, m := range c.Memberships() {
		fmt.Println("joined on", m.Interface.Name, m.Err)
	}
	b := make([]byte, 1500)
	for {
		p, err := c.Read(ctx, b)
		if err != nil {
			return
		}
		fmt.Printf("%v > %v on %s ttl=%d %d bytes\n", p.Src, p.Dst, p.Interface, p.TTL, p.N)
	}
}

// Sending to a group with a TTL of 4 out of each interface.
func ExampleDial() {
	ctx := context.Background()
	c, err := multicast.Dial(ctx, netip.MustParseAddrPort("239.255.0.1:5000"), multicast.Config{TTL: 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	n, err := c.WriteGroup([]byte("hello"))
	fmt.Println("sent on", n, "interfaces", err)
}

// An omping-style test against two peers that run the same code.
func ExampleRunTest() {
	ctx := context.Background()
	r, err := multicast.RunTest(ctx, netip.MustParseAddrPort("239.255.0.1:9797"), multicast.TestConfig{
		Peers: []netip.AddrPort{
			netip.MustParseAddrPort("198.18.0.11:9797"),
			netip.MustParseAddrPort("198.18.0.12:9797"),
		},
		Count:    100,
		Interval: 10 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range r.Peers {
		fmt.Printf("%v: multicast %.1f%% loss, unicast %.1f%% loss, %s\n",
			p.Peer, p.Multicast.Loss, p.Unicast.Loss, p.Status(5))
	}
	fmt.Println("all received the group:", r.OK(5))
}

func ExampleParseGroup() {
	g, err := multicast.ParseGroup("239.255.0.1")
	fmt.Println(g, err)
	_, err = multicast.ParseGroup("198.18.0.1:5000")
	fmt.Println(err)
	// Output:
	// 239.255.0.1:9797 <nil>
	// 198.18.0.1 is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)
}

// Receive and Repeat are the loops of udpcli mcast listen and send (not
// run here: they would join and send to a group).
func ExampleConn_Repeat() {
	ctx := context.Background()
	group := netip.MustParseAddrPort("239.255.0.1:5000")
	tx, err := multicast.Dial(ctx, group, multicast.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Close()
	st := tx.Repeat(ctx, 3, time.Second, func(seq int) []byte { return fmt.Appendf(nil, "hello %d", seq) },
		func(s multicast.Sent) { fmt.Println(s.Seq, s.Interface.Name, s.Err) })
	fmt.Println(st.Sent, "of", st.Total, "sent")

	rx, err := multicast.Listen(ctx, group, multicast.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer rx.Close()
	n, err := rx.Receive(ctx, 3, func(p multicast.Packet, b []byte) { fmt.Printf("%v: %q\n", p.Src, b) })
	fmt.Println(n, err)
}
