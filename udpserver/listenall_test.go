package udpserver_test

import (
	"context"
	"net"
	"testing"

	"github.com/udpkit/udpkit/internal/netaddr"
	"github.com/udpkit/udpkit/udpserver"
)

// TestListenAll: an empty host is a pair of wildcard sockets on one port,
// a literal one socket; a failing address closes what was opened.
func TestListenAll(t *testing.T) {
	ctx := context.Background()
	conns, err := udpserver.ListenAll(ctx, []string{":0", "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if len(conns) < 2 || len(conns) > 3 { // the IPv6 wildcard may be missing
		t.Fatalf("%d sockets, want 2 or 3", len(conns))
	}
	first := netaddr.AddrPort(conns[0].LocalAddr())
	if !first.Addr().Unmap().IsUnspecified() || !first.Addr().Unmap().Is4() {
		t.Errorf("first socket on %v, want the IPv4 wildcard", first)
	}
	if len(conns) == 3 {
		if six := netaddr.AddrPort(conns[1].LocalAddr()); six.Port() != first.Port() || !six.Addr().Is6() {
			t.Errorf("IPv6 wildcard on %v, want [::]:%d", six, first.Port())
		}
	}
	port, addrs, others := udpserver.Bound(conns)
	last := netaddr.AddrPort(conns[len(conns)-1].LocalAddr())
	if port != first.Port() || len(addrs) != len(conns)-1 || len(others) != 1 || others[0] != last.Port() {
		t.Errorf("Bound = %d, %v, %v; want %d, the wildcards, [%d]", port, addrs, others, first.Port(), last.Port())
	}

	// A taken port fails the whole call, and the sockets opened before are
	// closed: the first address can be bound again afterwards.
	taken := last.String()
	free, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.LocalAddr().String()
	free.Close()
	if _, err := udpserver.ListenAll(ctx, []string{freeAddr, taken}, nil); err == nil {
		t.Fatalf("ListenAll with %s taken: no error", taken)
	}
	c, err := net.ListenPacket("udp4", freeAddr)
	if err != nil {
		t.Errorf("%s still bound after the failed ListenAll: %v", freeAddr, err)
	} else {
		c.Close()
	}
	if got, _, _ := udpserver.Bound(nil); got != 0 {
		t.Errorf("Bound(nil) port %d", got)
	}
}
