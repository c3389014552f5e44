package jetstream_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/forward/jetstream"
	"github.com/udpkit/udpkit/udpserver"
)

// Store every message in a stream, and acknowledge it once stored. (It
// needs a NATS server with JetStream at 127.0.0.1:4222, such as
// `nats-server -js -a 127.0.0.1`, so it is compiled but not run; the tests
// run the same steps against an embedded server.)
func Example() {
	ctx := context.Background()
	nc, err := nats.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	if _, err := jetstream.EnsureStream(ctx, nc, njs.StreamConfig{Name: "UDPKIT", Subjects: []string{"udpkit.>"}}); err != nil {
		log.Fatal(err)
	}
	fwd, err := jetstream.New(ctx, nc, jetstream.Config{Instance: "kitchen"})
	if err != nil {
		log.Fatal(err)
	}
	pc, err := udpserver.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &udpserver.Server{Handler: fwd}
	go srv.Serve(pc)

	c, err := client.Dial(ctx, pc.LocalAddr().(*net.UDPAddr).String(), client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(ctx, []byte("temperature=21.5")); err != nil {
		log.Fatal(err)
	}
	srv.Shutdown(ctx)
	fwd.Close(ctx)

	js, _ := njs.New(nc)
	s, _ := js.Stream(ctx, "UDPKIT")
	m, _ := s.GetMsg(ctx, 1)
	fmt.Println(m.Subject, string(m.Data), m.Header.Get(jetstream.HeaderKind))
	// Prints: udpkit.kitchen temperature=21.5 data
}
