package udpserver

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

func TestServeLoopback(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"udp4", "127.0.0.1:0"},
		{"udp6", "[::1]:0"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			var runs atomic.Int64
			got := make(chan Request, 10)
			s := &Server{Handler: HandlerFunc(func(ctx context.Context, r *Request) error {
				runs.Add(1)
				cp := *r
				cp.Payload = bytes.Clone(r.Payload)
				got <- cp
				if string(r.Payload) == "no" {
					return errors.New("refused")
				}
				return nil
			})}
			addr := serve(t, s, tc.network, tc.addr)
			c := dial(t, tc.network, addr)

			data := wire.AppendData(nil, 77, []byte("hello"))
			if reply := roundTrip(t, c, data); !bytes.Equal(reply, wire.AppendAck(nil, 77)) {
				t.Fatalf("reply %x, want ACK 77", reply)
			}
			r := <-got
			if r.ID != 77 || string(r.Payload) != "hello" || r.Remote.String() != c.LocalAddr().String() || r.Local != addr {
				t.Errorf("request %+v (client %v, server %v)", r, c.LocalAddr(), addr)
			}
			// A retransmission gets the same ACK without a second run.
			if reply := roundTrip(t, c, data); !bytes.Equal(reply, wire.AppendAck(nil, 77)) {
				t.Fatalf("reply to retransmission %x", reply)
			}
			if reply := roundTrip(t, c, wire.AppendData(nil, 78, []byte("no"))); !bytes.HasPrefix(reply, wire.AppendNack(nil, 78, wire.CodeRejected, "", 16)) {
				t.Fatalf("reply %x, want NACK", reply)
			}
			<-got
			// Raw text, as from nc -u.
			if reply := roundTrip(t, c, []byte("hi there\n")); string(reply) != "ack\n" {
				t.Fatalf("raw reply %q", reply)
			}
			if r := <-got; !r.Raw || r.ID != 0 || string(r.Payload) != "hi there\n" {
				t.Errorf("raw request %+v", r)
			}
			// Garbage and an empty datagram get nothing: the next reply is the PONG.
			c.Write([]byte{wire.Magic0, wire.Magic1, 9})
			c.Write(nil)
			c.Write(wire.AppendAck(nil, 1))
			ping(t, c, 1234)
			if runs.Load() != 3 {
				t.Errorf("handler ran %d times, want 3", runs.Load())
			}
			st := s.Stats()
			if st.Received != 8 || st.Malformed != 2 || st.Empty != 1 || st.Duplicates != 1 || st.Pings != 1 || st.Acked != 3 || st.Nacked != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestServeTooLarge(t *testing.T) {
	s := &Server{MaxDatagram: 100}
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	c := dial(t, "udp4", addr)
	reply := roundTrip(t, c, wire.AppendData(nil, 3, make([]byte, 85)))
	if h, _ := parseReply(t, reply); h.Type != wire.TypeNack || h.Code != wire.CodeTooLarge || len(reply) != 16 {
		t.Errorf("reply %x, want a 16-byte NACK too large", reply)
	}
	if reply := roundTrip(t, c, wire.AppendData(nil, 4, make([]byte, 84))); !bytes.Equal(reply, wire.AppendAck(nil, 4)) {
		t.Errorf("reply to 100 bytes %x, want ACK", reply)
	}
	c.Write(wire.Append(nil, hdr(wire.TypePing, 5), make([]byte, 2000)))
	ping(t, c, 6)
}

// TestReplySource checks that on a wildcard bind the reply leaves from the
// address the request was sent to: 127.0.0.2 is local on Linux (all of
// 127/8 is) but the kernel would pick 127.0.0.1 for a reply on its own.
func TestReplySource(t *testing.T) {
	for _, tc := range []struct {
		name, network, bind, clientNet, to string
	}{
		{"ipv4 wildcard", "udp4", "0.0.0.0:0", "udp4", "127.0.0.2"},
		{"dual-stack wildcard, ipv4 client", "udp", "[::]:0", "udp4", "127.0.0.2"},
		{"dual-stack wildcard, ipv6 client", "udp", "[::]:0", "udp6", "::1"},
		{"ipv6 wildcard", "udp6", "[::]:0", "udp6", "::1"},
		{"ipv4 specific", "udp4", "127.0.0.3:0", "udp4", "127.0.0.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := make(chan netip.AddrPort, 1)
			s := &Server{Handler: HandlerFunc(func(ctx context.Context, r *Request) error {
				local <- r.Local
				return nil
			})}
			bound := serve(t, s, tc.network, tc.bind)
			to := netip.AddrPortFrom(netip.MustParseAddr(tc.to), bound.Port())
			// An unconnected client socket: a connected one would filter a
			// reply from the wrong source instead of showing it.
			c, err := net.ListenUDP(tc.clientNet, nil)
			if err != nil {
				t.Skipf("no %s: %v", tc.clientNet, err)
			}
			t.Cleanup(func() { c.Close() })
			if _, err := c.WriteToUDPAddrPort(wire.AppendData(nil, 1, []byte("x")), to); err != nil {
				t.Skipf("cannot send to %v: %v", to, err)
			}
			c.SetReadDeadline(time.Now().Add(waitTimeout))
			buf := make([]byte, 100)
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:n], wire.AppendAck(nil, 1)) {
				t.Errorf("reply %x", buf[:n])
			}
			if unmap(from) != to {
				t.Errorf("reply came from %v, want %v", from, to)
			}
			if l := <-local; l != to {
				t.Errorf("Request.Local = %v, want %v", l, to)
			}
		})
	}
}

func TestShutdownWaitsForHandler(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	s := &Server{Handler: HandlerFunc(func(ctx context.Context, r *Request) error {
		close(started)
		<-release
		return nil
	})}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(pc) }()
	c := dial(t, "udp4", pc.LocalAddr().(*net.UDPAddr).AddrPort())
	c.Write(wire.AppendData(nil, 1, []byte("slow")))
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a handler was running", err)
	case <-served:
		t.Fatal("Serve returned while a handler was running")
	case <-time.After(50 * time.Millisecond): // a chance to misbehave, not a timing assertion
	}
	close(release)
	// The running handler's ACK is still sent.
	if reply := recv(t, c); !bytes.Equal(reply, wire.AppendAck(nil, 1)) {
		t.Errorf("reply %x, want ACK", reply)
	}
	for _, ch := range []chan error{shut, served} {
		select {
		case err := <-ch:
			if err != nil && !errors.Is(err, ErrServerClosed) {
				t.Errorf("got %v", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("Shutdown or Serve did not return")
		}
	}
	// Serving again after Shutdown is refused.
	pc2, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	if err := s.Serve(pc2); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v", err)
	}
}

func TestShutdownContextExpires(t *testing.T) {
	started := make(chan struct{})
	s := &Server{Handler: HandlerFunc(func(ctx context.Context, r *Request) error {
		close(started)
		<-ctx.Done() // Close cancels the handlers' context
		return ctx.Err()
	})}
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	c := dial(t, "udp4", addr)
	c.Write(wire.AppendData(nil, 1, nil))
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want context.Canceled", err)
	}
}

func TestCloseIdle(t *testing.T) {
	s := &Server{}
	pc, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		pc, err = net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(pc) }()
	// Close may come before or after Serve registers the socket.
	s.Close()
	select {
	case err := <-served:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return after Close")
	}
}

func TestListenAndServeContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{}
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx, "127.0.0.1:0") }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrServerClosed) && !errors.Is(err, context.Canceled) {
			t.Errorf("ListenAndServe = %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("ListenAndServe did not return after its context ended")
	}
}

func TestServeWorkers(t *testing.T) {
	// With several workers, handlers run in parallel: two messages whose
	// handlers wait for each other both complete.
	var arrived atomic.Int64
	both := make(chan struct{})
	s := &Server{Workers: 4, Handler: HandlerFunc(func(ctx context.Context, r *Request) error {
		if arrived.Add(1) == 2 {
			close(both)
		}
		select {
		case <-both:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})}
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	c := dial(t, "udp4", addr)
	c.Write(wire.AppendData(nil, 1, nil))
	c.Write(wire.AppendData(nil, 2, nil))
	seen := map[uint64]bool{}
	for range 2 {
		h, _ := parseReply(t, recv(t, c))
		seen[h.ID] = h.Type == wire.TypeAck
	}
	if !seen[1] || !seen[2] {
		t.Errorf("replies %v", seen)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, s := range []*Server{{MaxDatagram: 10}, {MaxDatagram: 70000}, {DedupWindow: -1}, {Workers: -1}} {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Serve(pc); err == nil || errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve with %+v = %v, want a configuration error", s, err)
		}
	}
}
