package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"slices"
	"time"

	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/client/clienttest"
)

func Example() {
	// A fake server on loopback; use a real udpkit server's address instead.
	srv, err := clienttest.Start("127.0.0.1:0", clienttest.Behavior{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, srv.Addr(), client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	res, err := c.Send(ctx, []byte("temperature=21.5"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("acknowledged after", res.Attempts, "attempt")
	// Output: acknowledged after 1 attempt
}

func ExampleClient_SendAll() {
	srv, err := clienttest.Start("127.0.0.1:0", clienttest.Behavior{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	c, err := client.Dial(ctx, srv.Addr(), client.Config{Window: 16})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	lines := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
	acked := 0
	err = c.SendAll(ctx, slices.Values(lines), func(i int, r client.Result, err error) {
		if err != nil {
			fmt.Printf("line %d: %v\n", i+1, err)
			return
		}
		acked++
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(acked, "of", len(lines), "acknowledged")
	// Output: 3 of 3 acknowledged
}

func ExampleErrRefused() {
	// A port where nothing listens.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()

	ctx := context.Background()
	c, err := client.Dial(ctx, addr, client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_, err = c.Send(ctx, []byte("hello?"))
	fmt.Println(errors.Is(err, client.ErrRefused))
	// Output: true
}

func ExampleClient_PingRun() {
	srv, err := clienttest.Start("127.0.0.1:0", clienttest.Behavior{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, srv.Addr(), client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// ping -c 3 -i 0.01, printing each reply as it comes.
	st, err := c.PingRun(ctx, client.PingRunConfig{Count: 3, Interval: 10 * time.Millisecond,
		OnReply: func(seq int, p client.Pong) { fmt.Println("reply to", seq, "dup:", p.Dup) }})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d transmitted, %d received, %g%% loss\n", st.Transmitted, st.Received, st.Loss())
	// Output:
	// reply to 1 dup: false
	// reply to 2 dup: false
	// reply to 3 dup: false
	// 3 transmitted, 3 received, 0% loss
}
