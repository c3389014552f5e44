package multicast

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/readloop"
	"github.com/udpkit/udpkit/netif"
)

// A per-call context that ends just after Read returned a datagram must
// not leave a read deadline in the past on the socket: every later Read
// would fail. The hooks widen the window: the context ends right after the
// read, and its wake-up runs late. Unicast over loopback only: the Conn
// neither joins nor sends to the group.
func TestReadContextEndsAfterRead(t *testing.T) {
	lo := []netif.Interface{{Name: "lo", Index: 1}}
	c, err := Dial(t.Context(), netip.MustParseAddrPort("239.18.0.9:9"), Config{Interfaces: lo})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), c.LocalAddr().Port()))
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()

	ctx, cancel := context.WithCancel(t.Context())
	testHookRead = cancel
	readloop.TestHookWake = func() { time.Sleep(50 * time.Millisecond) }
	t.Cleanup(func() { testHookRead, readloop.TestHookWake = nil, nil })
	b := make([]byte, 64)
	if _, err := tx.WriteTo([]byte("one"), to); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(ctx, b); err != nil {
		t.Fatal(err)
	}
	testHookRead = nil
	time.Sleep(150 * time.Millisecond) // a late wake-up has run by now
	if _, err := tx.WriteTo([]byte("two"), to); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer rcancel()
	if p, err := c.Read(rctx, b); err != nil || string(b[:p.N]) != "two" {
		t.Fatalf("Read after the first Read's context ended: %q, %v", b[:p.N], err)
	}
}
