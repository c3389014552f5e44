package netlab_test

import (
	"context"
	"fmt"
	"log"

	"github.com/udpkit/udpkit/internal/netlab"
)

// Build a three-host LAN where host 2 also sits on a second segment and a
// fifth of all frames are lost, and list it.
func ExampleNew() {
	if err := netlab.Available(); err != nil {
		fmt.Println("skipping:", err)
		return
	}
	lab, err := netlab.New(context.Background(), netlab.Config{Hosts: 3, SecondSegment: []int{2}, Loss: 20})
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	for _, h := range lab.Hosts() {
		fmt.Println(h.Name, h.Ifaces, h.IPv4, h.IPv6, h.SecondIPv4)
	}
	out, err := lab.Host(0).Command(context.Background(), "ip", "-br", "addr").Output()
	fmt.Printf("%s%v\n", out, err)
}
