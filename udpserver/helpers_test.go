package udpserver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// waitTimeout bounds every wait in the tests; it only fires when something
// is broken, so it can be generous on a loaded machine.
const waitTimeout = 10 * time.Second

// serve runs s on a socket bound to addr and returns the socket's address.
// The server is closed, and Serve's result checked, at the end of the test.
func serve(t *testing.T, s *Server, network, addr string) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(pc) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case err := <-done:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Serve did not return after Close")
		}
	})
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// dial returns a UDP socket connected to addr, as the tiny test client.
func dial(t testing.TB, network string, addr netip.AddrPort) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Skipf("cannot dial %v: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends msg on c and returns the first datagram that comes back.
func roundTrip(t testing.TB, c *net.UDPConn, msg []byte) []byte {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	return recv(t, c)
}

func recv(t testing.TB, c *net.UDPConn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	buf := make([]byte, 70000)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n]
}

// parseReply parses a reply and fails the test if it is malformed.
func parseReply(t testing.TB, b []byte) (wire.Header, []byte) {
	t.Helper()
	h, body, err := wire.Parse(b)
	if err != nil {
		t.Fatalf("reply %x: %v", b, err)
	}
	return h, body
}

// ping sends a PING with id and checks that the next datagram is its PONG:
// since one worker answers datagrams in order, this proves that nothing
// was sent for anything sent before it.
func ping(t testing.TB, c *net.UDPConn, id uint64) {
	t.Helper()
	reply := roundTrip(t, c, wire.Append(nil, wire.Header{Type: wire.TypePing, ID: id}, nil))
	h, _ := parseReply(t, reply)
	if h.Type != wire.TypePong || h.ID != id {
		t.Fatalf("got %v id %d, want the pong of ping %d (an earlier datagram was answered?)", h.Type, h.ID, id)
	}
}

// newPacketFor returns a packet holding datagram b from remote, as the I/O
// layer would fill it for s.
func newPacketFor(s *Server, b []byte, remote string) *packet {
	s.init()
	p := newPacket(s.cfg.maxDatagram)
	p.n = copy(p.buf, b)
	if len(b) > len(p.buf) {
		p.n = len(b) // as the kernel reports with MSG_TRUNC: too large
	}
	p.remote = netip.MustParseAddrPort(remote)
	p.local = netip.MustParseAddrPort("127.0.0.1:9797")
	return p
}

var bg = context.Background()

func netipAddrPort(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 5)}), uint16(1000+i))
}
