package sockopt

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// TestShareAddr binds two sockets to one loopback port: without the option
// the second bind fails.
func TestShareAddr(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error { return ShareAddr(c) }}
	a, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := lc.ListenPacket(context.Background(), "udp4", a.LocalAddr().String())
	if err != nil {
		t.Fatalf("second socket on %v: %v", a.LocalAddr(), err)
	}
	b.Close()
	var plain net.ListenConfig
	if c, err := plain.ListenPacket(context.Background(), "udp4", a.LocalAddr().String()); err == nil {
		c.Close()
		t.Fatal("a socket without the option could bind the shared port: the test proves nothing")
	}
}
