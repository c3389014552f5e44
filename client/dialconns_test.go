package client

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

// TestDialConns: n sockets, each its own source port, all connected to
// the one address; malformed addresses fail as Dial's do, without a
// resolver (only literals and malformed strings here).
func TestDialConns(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := srv.LocalAddr().String()
	conns, err := DialConns(context.Background(), addr, 3)
	if err != nil {
		t.Fatal(err)
	}
	ports := map[netip.AddrPort]bool{}
	for _, c := range conns {
		defer c.Close()
		if got := c.RemoteAddr().String(); got != addr {
			t.Errorf("remote %s, want %s", got, addr)
		}
		ports[c.LocalAddr().(*net.UDPAddr).AddrPort()] = true
		if _, err := c.Write([]byte("x")); err != nil {
			t.Errorf("write: %v", err)
		}
	}
	if len(ports) != 3 {
		t.Errorf("%d source ports, want 3", len(ports))
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:0", "::1:9797", ":9797", "127.0.0.1:99999"} {
		if _, err := DialConns(context.Background(), bad, 1); !errors.Is(err, ErrBadAddress) {
			t.Errorf("%q: %v, want ErrBadAddress", bad, err)
		}
	}
	if _, err := DialConns(context.Background(), addr, 0); err == nil || errors.Is(err, ErrBadAddress) {
		t.Errorf("0 sockets: %v", err)
	}
}
