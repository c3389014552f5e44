package mdns_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/udpkit/udpkit/mdns"
)

// A server publishes itself; avahi-browse -r _udpkit._udp then shows it.
// (Not run as a test: it multicasts on the machine's interfaces.)
func ExampleResponder() {
	r, err := mdns.NewResponder(mdns.ResponderConfig{
		Instance: "kitchen",
		Port:     9797,
		Text:     []string{"room=kitchen"},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = r.Run(ctx) // goodbyes go out when ctx ends
}

// Every web server on the LAN, as each one is resolved.
func ExampleBrowser_Browse() {
	b, err := mdns.NewBrowser(mdns.BrowserConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b.Browse(ctx, "_http._tcp", func(in mdns.Instance) {
		fmt.Printf("%s at %v port %d on %s\n", in.Name, in.Addrs, in.Port, in.Interface)
	})
}
