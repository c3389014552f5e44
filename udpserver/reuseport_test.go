package udpserver

import (
	"runtime"
	"testing"

	"github.com/udpkit/udpkit/wire"
)

// TestServeSockets serves one address with several SO_REUSEPORT sockets:
// senders from many ports are all answered, and the sockets are closed
// with the server.
func TestServeSockets(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_REUSEPORT balancing is Linux-only")
	}
	for _, tc := range []struct{ network, bind, to string }{
		{"udp4", "127.0.0.1:0", "127.0.0.1"},
		{"udp6", "[::]:0", "::1"},
	} {
		t.Run(tc.bind, func(t *testing.T) {
			s := &Server{Sockets: 4}
			addr := serve(t, s, tc.network, tc.bind)
			to := netipAddrPortFrom(t, tc.to, addr.Port())
			for i := range 16 {
				c := dial(t, tc.network, to)
				h, _ := parseReply(t, roundTrip(t, c, wire.AppendData(nil, uint64(i+1), []byte("x"))))
				if h.Type != wire.TypeAck || h.ID != uint64(i+1) {
					t.Fatalf("reply %v %d", h.Type, h.ID)
				}
			}
			if st := s.Stats(); st.Acked != 16 {
				t.Errorf("Acked = %d, want 16", st.Acked)
			}
		})
	}
}

// The siblings Sockets opens share the port with each other only: an
// ordinary socket cannot bind it while the server runs.
func TestServeSocketsHoldPort(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_REUSEPORT balancing is Linux-only")
	}
	s := &Server{Sockets: 2}
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	if c, err := Listen(bg, addr.String()); err == nil {
		c.Close()
		t.Errorf("a socket without SO_REUSEPORT bound %v too", addr)
	}
}
