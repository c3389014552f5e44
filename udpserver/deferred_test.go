package udpserver

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// deferring is a handler that defers every reply and hands the
// Responders to the test.
type deferring struct {
	got   chan *Responder
	calls chan uint64
}

func newDeferring() *deferring {
	return &deferring{got: make(chan *Responder, 100), calls: make(chan uint64, 100)}
}

func (d *deferring) ServeUDP(_ context.Context, r *Request) error {
	d.calls <- r.ID
	resp, err := r.Defer()
	if err != nil {
		return err
	}
	if again, _ := r.Defer(); again != resp {
		return errors.New("a second Defer returned another Responder")
	}
	d.got <- resp
	return nil
}

func (d *deferring) next(t *testing.T) *Responder {
	t.Helper()
	select {
	case r := <-d.got:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("the handler did not run")
		return nil
	}
}

func TestDeferredReplyExactlyOnce(t *testing.T) {
	for _, batch := range []int{1, 64} {
		d := newDeferring()
		s := &Server{Handler: d, BatchSize: batch}
		addr := serve(t, s, "udp4", "127.0.0.1:0")
		c := dial(t, "udp4", addr)
		dg := wire.AppendData(nil, 5, []byte("later"))
		if _, err := c.Write(dg); err != nil {
			t.Fatal(err)
		}
		resp := d.next(t)
		if resp.ID() != 5 || resp.Remote() != c.LocalAddr().(*net.UDPAddr).AddrPort() {
			t.Errorf("Responder for %d from %v", resp.ID(), resp.Remote())
		}
		// While the reply is pending, a retransmission is dropped and the
		// handler does not run again; nothing is sent.
		if _, err := c.Write(dg); err != nil {
			t.Fatal(err)
		}
		ping(t, c, 100)
		if s.Deferred() != 1 {
			t.Errorf("Deferred() = %d, want 1", s.Deferred())
		}
		resp.Ack()
		resp.Done(errors.New("too late")) // the first completion wins
		h, _ := parseReply(t, recv(t, c))
		if h.Type != wire.TypeAck || h.ID != 5 {
			t.Fatalf("batch %d: got %v %d, want ACK 5", batch, h.Type, h.ID)
		}
		ping(t, c, 101) // no second reply in between
		// A retransmission now gets the remembered ACK.
		h, _ = parseReply(t, roundTrip(t, c, dg))
		if h.Type != wire.TypeAck {
			t.Errorf("retransmission after the reply: %v, want ACK", h.Type)
		}
		for deadline := timeoutFromNow(); s.Deferred() != 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		st := s.Stats()
		if st.Handled != 1 || st.InProgress != 1 || st.Duplicates != 1 || st.Acked != 2 || s.Deferred() != 0 {
			t.Errorf("batch %d: stats %+v, deferred %d", batch, st, s.Deferred())
		}
		if len(d.calls) != 1 {
			t.Errorf("handler ran %d times, want 1", len(d.calls))
		}
	}
}

func TestDeferredBusyIsForgotten(t *testing.T) {
	d := newDeferring()
	s := &Server{Handler: d}
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	c := dial(t, "udp4", addr)
	dg := wire.AppendData(nil, 9, []byte("long enough for the reason"))
	c.Write(dg)
	d.next(t).Done(Reject(wire.CodeBusy, "not stored"))
	h, body := parseReply(t, recv(t, c))
	if h.Type != wire.TypeNack || h.Code != wire.CodeBusy || string(body) != "not stored" {
		t.Fatalf("got %v %v %q, want NACK busy", h.Type, h.Code, body)
	}
	// Busy was not remembered: the retransmission runs the handler again.
	c.Write(dg)
	d.next(t).Done(Reject(wire.CodeRejected, "no"))
	if h, _ := parseReply(t, recv(t, c)); h.Code != wire.CodeRejected {
		t.Fatalf("second try: %v, want NACK rejected", h.Code)
	}
	// A refusal other than busy is remembered.
	if h, _ := parseReply(t, roundTrip(t, c, dg)); h.Code != wire.CodeRejected {
		t.Fatalf("third try: %v, want the remembered NACK rejected", h.Code)
	}
	if n := len(d.calls); n != 2 {
		t.Errorf("handler ran %d times, want 2", n)
	}
}

func TestDeferLimit(t *testing.T) {
	d := newDeferring()
	s := &Server{Handler: d, MaxDeferred: 2}
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	c := dial(t, "udp4", addr)
	for id := uint64(1); id <= 2; id++ {
		c.Write(wire.AppendData(nil, id, nil))
		d.next(t)
	}
	h, _ := parseReply(t, roundTrip(t, c, wire.AppendData(nil, 3, nil)))
	if h.Type != wire.TypeNack || h.Code != wire.CodeBusy || h.ID != 3 {
		t.Fatalf("third message: %v %v, want NACK busy", h.Type, h.Code)
	}
	var rs Request
	if _, err := rs.Defer(); err == nil {
		t.Error("Defer on a Request the server did not hand out succeeded")
	}
}

// A handler error after Defer completes the Responder at once.
func TestDeferThenError(t *testing.T) {
	s := &Server{Handler: HandlerFunc(func(_ context.Context, r *Request) error {
		if _, err := r.Defer(); err != nil {
			return err
		}
		return Reject(wire.CodeRejected, "changed my mind")
	})}
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	c := dial(t, "udp4", addr)
	h, body := parseReply(t, roundTrip(t, c, wire.AppendData(nil, 4, []byte("a payload of some length"))))
	if h.Code != wire.CodeRejected || string(body) != "changed my mind" {
		t.Fatalf("got %v %q", h.Code, body)
	}
	for deadline := timeoutFromNow(); s.Deferred() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the deferred slot was never given back")
		}
	}
}

func TestDeferredRaw(t *testing.T) {
	d := newDeferring()
	s := &Server{Handler: d}
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	c := dial(t, "udp4", addr)
	c.Write([]byte("hi"))
	d.next(t).Ack()
	if got := string(recv(t, c)); got != "ac" {
		t.Errorf("raw reply %q, want %q (never longer than the request)", got, "ac")
	}
}

// Shutdown waits for the deferred replies and sends them before closing.
func TestShutdownWaitsForDeferred(t *testing.T) {
	d := newDeferring()
	s := &Server{Handler: d}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(pc) }()
	c := dial(t, "udp4", pc.LocalAddr().(*net.UDPAddr).AddrPort())
	c.Write(wire.AppendData(nil, 8, nil))
	resp := d.next(t)
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a reply deferred", err)
	case <-time.After(100 * time.Millisecond):
	}
	resp.Ack()
	if h, _ := parseReply(t, recv(t, c)); h.Type != wire.TypeAck {
		t.Errorf("got %v, want the deferred ACK", h.Type)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
}
