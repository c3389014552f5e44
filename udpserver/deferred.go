package udpserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/udpkit/udpkit/wire"
)

// DefaultMaxDeferred is how many deferred replies a Server keeps
// outstanding at most when Server.MaxDeferred is zero.
const DefaultMaxDeferred = 4096

// ErrDeferLimit is in the chain of the error Request.Defer returns when
// Server.MaxDeferred replies are already outstanding or the server is
// closing. The error is also a *RejectError with code wire.CodeBusy, so a
// handler that returns it refuses the message with NACK busy.
var ErrDeferLimit = errors.New("udpserver: too many replies outstanding")

// exchange is what a Request needs to defer its reply: the server, the
// socket and the de-duplication key of the datagram it came in. It lives in
// the worker's packet, so a handler that does not defer costs nothing.
type exchange struct {
	s    *Server
	p    *packet
	key  dedupKey
	size int        // the request's size: no reply is longer
	resp *Responder // set by Defer

	sealed bool   // the request was authenticated: seal the reply
	keyID  uint16 // with the request's key
}

// Responder sends the reply to one deferred message, later than its
// handler's return: see Request.Defer. Its methods are safe for concurrent
// use; the first call of Done, Ack or Reject decides the reply and later
// calls do nothing.
type Responder struct {
	s    *Server
	c    conn
	rq   *replyQueue
	out  packet // the addresses the reply needs, copied from the request's packet
	key  dedupKey
	id   uint64
	raw  bool
	size int
	once atomic.Bool

	sealed bool // seal the reply with keyID (Server.Keys)
	keyID  uint16
}

// Defer tells the server not to reply when the handler returns but when
// the returned Responder is completed: the handler hands the message on
// (to a broker, say) and the ACK or NACK leaves when the Responder's Done
// is called, from any goroutine. Until then the message counts as running:
// a retransmission of it is dropped, as while a handler runs (PROTOCOL.md
// section 3), and never handled twice. The payload is still only valid
// until the handler returns: copy it.
//
// If the handler returns an error after Defer, that error completes the
// Responder at once (unless Done came first). A Responder that is never
// completed keeps its exchange running, its slot counted against
// Server.MaxDeferred and Shutdown waiting: complete every one, with an
// error if need be.
//
// Defer fails with an error that wraps ErrDeferLimit and is a *RejectError
// with code busy when Server.MaxDeferred replies are outstanding or the
// server is shutting down; the handler may return it to refuse the
// message with NACK busy. Calling Defer twice returns the same Responder.
func (r *Request) Defer() (*Responder, error) {
	ex := r.ex
	if ex == nil {
		return nil, errors.New("udpserver: Defer on a Request the server did not hand out")
	}
	if ex.resp != nil {
		return ex.resp, nil
	}
	s := ex.s
	rs := s.deferAdd()
	if rs == nil {
		return nil, fmt.Errorf("%w: %w", ErrDeferLimit, &RejectError{Code: wire.CodeBusy, Reason: "too many messages pending"})
	}
	p := ex.p
	ex.resp = rs
	*rs = Responder{
		s:    s,
		c:    p.c,
		rq:   p.rq,
		out:  packet{remote: p.remote, local: p.local, ifindex: p.ifindex, dst: p.dst, addr: p.addr},
		key:  ex.key,
		id:   r.ID,
		raw:  r.Raw,
		size: ex.size,

		sealed: ex.sealed,
		keyID:  ex.keyID,
	}
	return ex.resp, nil
}

// Done completes a deferred message: nil acknowledges it (ACK, or "ack\n"
// for a raw datagram), an error refuses it with a NACK as a handler's
// returned error would (a *RejectError in its chain chooses the code). The
// reply leaves with the socket's next batch of deferred replies (one
// sendmmsg on Linux); it is remembered for retransmissions like any
// other, except NACK busy, which is forgotten so that the client's
// retransmission is handled anew.
func (rs *Responder) Done(err error) { rs.done(err, false) }

// AckAll acknowledges every deferred message of rs, as Ack does each one,
// but wakes each socket's reply loop once, after the last: replies
// completed together (a burst of confirmations from a broker) leave in one
// batch instead of trickling out as the loop wakes for the first.
func AckAll(rs []*Responder) {
	var kicked *replyQueue
	for _, r := range rs {
		if !r.done(nil, true) || r.rq == nil {
			continue
		}
		if kicked != nil && r.rq != kicked {
			kicked.kick()
		}
		kicked = r.rq
	}
	if kicked != nil {
		kicked.kick()
	}
}

// done is Done; quiet leaves waking the reply loop to the caller
// (AckAll). It reports whether the reply was queued.
func (rs *Responder) done(err error, quiet bool) (queued bool) {
	if !rs.once.CompareAndSwap(false, true) {
		return false
	}
	s := rs.s
	code, reason := s.result(err)
	var buf [wire.HeaderLen + maxReasonLen + wire.AuthTrailerLen]byte
	var out []byte
	if rs.raw {
		if code != wire.CodeNone {
			s.deferDone()
			return false // raw mode has no words for a refusal
		}
		s.stats.acked.Add(1)
		out = append(buf[:0], "ack\n"[:min(4, rs.size)]...)
	} else {
		// The entry is finished before the reply leaves: a retransmission
		// that crosses the reply is answered from the table.
		s.dedup.finish(rs.key, code, reason)
		w := worker{Server: s, clock: -1} // its counts reach the shared ones at once (done)
		if rs.sealed {
			// A buffer of its own: sealing makes it escape, and buf must
			// stay on the stack for the unauthenticated path (0 allocations).
			out = w.seal(w.answer(make([]byte, 0, len(buf)), rs.id, code, reason, rs.size), rs.keyID)
		} else {
			out = w.answer(buf[:0], rs.id, code, reason, rs.size)
		}
		w.done()
		if out == nil {
			return false
		}
	}
	if rs.c == nil || len(out) == 0 {
		s.deferDone()
		return false
	}
	if rs.rq != nil && s.ctx.Err() == nil && rs.rq.put(&rs.out, out, quiet) {
		return true // the socket's reply loop sends it and releases the slot
	}
	rs.write(out)
	s.deferDone()
	return false
}

// write sends out at once, one system call: when the socket has no reply
// queue or its queue is full. It copies out so that Done's buffer stays on
// the stack for the queued path.
func (rs *Responder) write(out []byte) {
	s := rs.s
	b := append(make([]byte, 0, len(out)), out...)
	rs.out.woob = make([]byte, 0, oobSize)
	if err := rs.c.write(&rs.out, b); err != nil && !s.isClosing() {
		s.stats.writeErrors.Add(1)
		s.logLimited(&s.logWrite, slog.LevelWarn, "udpserver: write failed", "to", rs.out.remote, "err", err)
	}
}

// Ack acknowledges a deferred message: Done(nil).
func (rs *Responder) Ack() { rs.Done(nil) }

// Remote returns the address the deferred message came from.
func (rs *Responder) Remote() netip.AddrPort { return unmap(rs.out.remote) }

// ID returns the deferred message's ID (0 for a raw datagram).
func (rs *Responder) ID() uint64 { return rs.id }

// deferrals counts the outstanding deferred replies; idle is closed when
// the count drops to zero.
type deferrals struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // non-nil while n > 0
	slab []Responder   // the next Responders to hand out
}

// responderSlab is how many Responders one allocation makes. Each is handed
// out once and never reused (a Responder stays valid for as long as anyone
// holds it), so a slab is freed when its last Responder is unreachable: a
// long-lived Responder keeps at most this many alive.
const responderSlab = 16

// deferAdd takes a slot for a deferred reply, if one is free, and returns
// a fresh Responder for it; nil if none is free.
func (s *Server) deferAdd() *Responder {
	d := &s.deferred
	d.mu.Lock()
	defer d.mu.Unlock()
	limit := s.MaxDeferred
	if limit == 0 {
		limit = DefaultMaxDeferred
	}
	if d.n >= limit || s.ctx.Err() != nil {
		return nil
	}
	if d.n == 0 {
		d.idle = make(chan struct{})
	}
	d.n++
	if len(d.slab) == 0 {
		d.slab = make([]Responder, responderSlab)
	}
	rs := &d.slab[0]
	d.slab = d.slab[1:]
	return rs
}

func (s *Server) deferDone() {
	d := &s.deferred
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n--; d.n == 0 {
		close(d.idle)
		d.idle = nil
	}
}

// Deferred returns how many deferred replies are outstanding now.
func (s *Server) Deferred() int {
	s.init()
	s.deferred.mu.Lock()
	defer s.deferred.mu.Unlock()
	return s.deferred.n
}

// waitDeferred returns when no deferred reply is outstanding, or when the
// server was closed (Close: replies are lost then).
func (s *Server) waitDeferred() {
	s.deferred.mu.Lock()
	idle := s.deferred.idle
	s.deferred.mu.Unlock()
	if idle == nil {
		return
	}
	select {
	case <-idle:
	case <-s.ctx.Done():
	}
}
