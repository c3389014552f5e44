package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/udpkit/udpkit/discovery"
)

// A server announces itself until its context ends.
func ExampleAnnouncer() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // Run sends goodbyes and returns
	a, err := discovery.NewAnnouncer(discovery.AnnouncerConfig{
		Port:  9797,
		Bound: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		Attrs: []string{"version=1"},
	})
	if errors.Is(err, discovery.ErrNoInterface) {
		fmt.Println("not announced:", err) // a loopback-only server lands here
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	go a.Run(ctx)
}

// Find the instances of a service on eth0 for one second.
func ExampleBrowser_Browse() {
	b, err := discovery.NewBrowser(discovery.BrowserConfig{Interfaces: []string{"eth0"}})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err = b.Browse(ctx, "_udpkit._udp", func(in discovery.Instance) {
		fmt.Println(in.Instance, in.Addrs, in.Interface, in.FoundAfter)
	})
	if err != nil {
		log.Fatal(err)
	}
}
