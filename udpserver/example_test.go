package udpserver_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"
)

// A server that accepts messages mentioning no secrets, and a client that
// sends it one DATA message and one raw line.
func ExampleServer() {
	s := &udpserver.Server{
		Handler: udpserver.HandlerFunc(func(ctx context.Context, r *udpserver.Request) error {
			if strings.Contains(string(r.Payload), "password") {
				return udpserver.Reject(wire.CodeRejected, "no secrets")
			}
			fmt.Printf("handled %q (raw %v)\n", r.Payload, r.Raw)
			return nil
		}),
	}
	pc, err := udpserver.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go s.Serve(pc)
	defer s.Shutdown(context.Background())

	c, err := net.DialUDP("udp", nil, pc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)

	c.Write(wire.AppendData(nil, 1, []byte("hello")))
	n, _ := c.Read(buf)
	h, _, _ := wire.Parse(buf[:n])
	fmt.Println("reply:", h.Type, h.ID)

	// The reason comes whole when it fits in the request's size (a NACK is
	// never longer than its DATA), else the code comes alone.
	c.Write(wire.AppendData(nil, 2, []byte("my password is hunter2")))
	n, _ = c.Read(buf)
	h, body, _ := wire.Parse(buf[:n])
	fmt.Printf("reply: %v %v %q\n", h.Type, h.Code, body)

	c.Write([]byte("plain text\n"))
	n, _ = c.Read(buf)
	fmt.Printf("reply: %q\n", buf[:n])
	// Output:
	// handled "hello" (raw false)
	// reply: ack 1
	// reply: nack rejected "no secrets"
	// handled "plain text\n" (raw true)
	// reply: "ack\n"
}
