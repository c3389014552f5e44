package readloop_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/udpkit/udpkit/internal/readloop"
)

// A context ends a blocking read; the socket is left without a deadline.
func ExampleWake() {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	stop := readloop.Wake(ctx, c, time.Time{})
	_, _, err = c.ReadFrom(make([]byte, 16))
	stop()
	fmt.Println(errors.Is(err, os.ErrDeadlineExceeded))
	// Output: true
}

// The pauses of a read loop whose reads keep failing.
func ExampleBackoff() {
	var b readloop.Backoff
	for range 4 {
		fmt.Print(b.Next(), " ")
	}
	fmt.Println()
	// Output: 5ms 10ms 20ms 40ms
}
