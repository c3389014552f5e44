package udpserver

import (
	"context"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// TestProcessAllocs proves that the protocol path allocates nothing per
// datagram once the de-dup table has reached its working size.
func TestProcessAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	refused := Reject(wire.CodeRejected, "no")
	h := HandlerFunc(func(ctx context.Context, r *Request) error {
		if r.Payload[0] == 'n' {
			return refused
		}
		return nil
	})
	// A fake clock that moves a millisecond per datagram: with a 1 s window
	// the table settles at 1000 entries, one expiring per insert.
	var clock int64
	s := &Server{Handler: h, DedupEntries: 1024, DedupWindow: time.Second}
	s.clock = func() int64 { clock += int64(time.Millisecond); return clock }
	reply := make([]byte, 0, 2048)
	data := newPacketFor(s, wire.AppendData(nil, 0, []byte("payload")), "192.0.2.1:4000")
	id := uint64(0)
	newID := func() {
		id++
		data.buf[8], data.buf[9], data.buf[10], data.buf[11] = byte(id>>56), byte(id>>48), byte(id>>40), byte(id>>32)
		data.buf[12], data.buf[13], data.buf[14], data.buf[15] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
	}
	// Fill the table so that every new message expires the oldest.
	for range 4096 {
		newID()
		s.process(bg, data, reply)
	}
	ping := newPacketFor(s, wire.Append(nil, hdr(wire.TypePing, 1), make([]byte, 64)), "192.0.2.1:4000")
	raw := newPacketFor(s, []byte("hello\n"), "192.0.2.1:4000")
	bad := newPacketFor(s, []byte{wire.Magic0, wire.Magic1, 7, 1}, "192.0.2.1:4000")
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"data new", func() { newID(); s.process(bg, data, reply) }},
		{"data duplicate", func() { s.process(bg, data, reply) }},
		{"data nack", func() {
			newID()
			data.buf[wire.HeaderLen] = 'n'
			s.process(bg, data, reply)
			data.buf[wire.HeaderLen] = 'p'
		}},
		{"ping", func() { s.process(bg, ping, reply) }},
		{"raw", func() { s.process(bg, raw, reply) }},
		{"malformed", func() { s.process(bg, bad, reply) }},
	} {
		if n := testing.AllocsPerRun(1000, tc.f); n != 0 {
			t.Errorf("%s: %v allocations per datagram, want 0", tc.name, n)
		}
	}
	if st := s.Stats(); st.Busy != 0 || st.DedupEntries != 1000 {
		t.Errorf("the new messages were not inserted: %+v", st)
	}
}

// TestDeferAllocs: a deferred message costs a sixteenth of an allocation
// (its Responder comes from a slab of responderSlab; AllocsPerRun rounds
// that down to 0), and every Responder handed out is a fresh one, whatever
// the earlier ones are still used for.
func TestDeferAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	var pending []*Responder
	seen := map[*Responder]bool{}
	h := HandlerFunc(func(ctx context.Context, r *Request) error {
		rs, err := r.Defer()
		if err != nil {
			return err
		}
		pending = append(pending, rs)
		return nil
	})
	var clock int64
	s := &Server{Handler: h, DedupEntries: 1024, DedupWindow: time.Second}
	s.clock = func() int64 { clock += int64(time.Millisecond); return clock }
	reply := make([]byte, 0, 2048)
	data := newPacketFor(s, wire.AppendData(nil, 0, []byte("payload")), "192.0.2.1:4000")
	id := uint64(0)
	step := func() {
		id++
		data.buf[8], data.buf[9], data.buf[10], data.buf[11] = byte(id>>56), byte(id>>48), byte(id>>40), byte(id>>32)
		data.buf[12], data.buf[13], data.buf[14], data.buf[15] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
		s.process(bg, data, reply)
		rs := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		rs.Ack()
	}
	for range 4096 { // the table at its working size
		step()
	}
	// One Responder outstanding throughout, as under load: the count never
	// drops to zero, which makes a new idle channel each time.
	id++
	data.buf[8] = 0xdd
	s.process(bg, data, reply)
	anchor := pending[0]
	data.buf[8] = 0
	pending = make([]*Responder, 0, 1)
	if n := testing.AllocsPerRun(responderSlab*64, step); n != 0 {
		t.Errorf("%v allocations per deferred message, want 1/%d", n, responderSlab)
	}
	for range 3 * responderSlab {
		id++
		data.buf[15], data.buf[14] = byte(id), byte(id>>8)
		data.buf[8] = 0xee // IDs of their own
		s.process(bg, data, reply)
		rs := pending[len(pending)-1]
		if seen[rs] {
			t.Fatal("a Responder was handed out twice")
		}
		seen[rs] = true
	}
	for _, rs := range pending {
		rs.Ack()
		rs.Ack() // a late second call does nothing, to this message or another
	}
	anchor.Ack()
	if d := s.Deferred(); d != 0 {
		t.Errorf("%d deferred replies outstanding, want 0", d)
	}
}
