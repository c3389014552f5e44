package udpserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"

	"github.com/udpkit/udpkit/wire"
)

// packet is one received datagram and the per-worker scratch space that
// goes with it. The I/O layer fills buf[:n], remote, local and ifindex;
// process reads them. A worker owns one packet and reuses it.
type packet struct {
	buf     []byte         // MaxDatagram+1 bytes: a datagram that fills it is too large
	n       int            // bytes received
	remote  netip.AddrPort // sender, as the socket reported it (may be IPv4-mapped)
	local   netip.AddrPort // destination of the datagram when known, as reported
	ifindex int            // interface the datagram arrived on, 0 if unknown
	dst     bool           // local came from a control message: reply from it

	oob  []byte      // control messages received
	woob []byte      // control messages to send
	addr net.Addr    // sender as a net.Addr, for PacketConns that are not *net.UDPConn
	req  Request     // handed to the handler
	c    conn        // the socket it came through, for a deferred reply
	rq   *replyQueue // that socket's queue of deferred replies, if any
	ex   exchange    // what Request.Defer needs
	auth authInfo    // who sealed the datagram being handled (auth.go)
	ck   [32]byte    // scratch of the cookie MAC (cookie.go)
}

// oobSize fits IPV6_PKTINFO and IP_PKTINFO with room to spare.
const oobSize = 128

func newPacket(maxDatagram int) *packet {
	return &packet{
		buf:  make([]byte, maxDatagram+1),
		oob:  make([]byte, oobSize),
		woob: make([]byte, 0, oobSize),
	}
}

// errHandlerPanic is the refusal recorded when a handler panics.
var errHandlerPanic = errors.New("internal error")

// process is the protocol: it takes one received datagram, runs the
// handler when the datagram asks for it, and returns the reply to send
// (appended to reply[:0]), or nil to send nothing. It does no I/O of its
// own and is safe for concurrent use.
func (s *worker) process(ctx context.Context, p *packet, reply []byte) []byte {
	s.stats.received.Add(1)
	if s.recv != nil {
		return s.processAuth(ctx, p, reply) // auth.go: verified before anything else
	}
	n := min(p.n, len(p.buf))
	b := p.buf[:n]
	over := p.n > s.cfg.maxDatagram
	// Parsed once, first: the counters, the limiter and the dispatch below
	// use this result. Parse does not allocate, even when it fails, and a
	// malformed datagram (or one this server never takes) is dropped here,
	// before any table, so a flood of them costs a parse each.
	h, body, perr := wire.Parse(b)
	if perr != nil || h.Flags&wire.FlagAuth != 0 || h.Type != wire.TypeData && h.Type != wire.TypePing {
		if !wire.IsMessage(b) { // raw text: Parse said ErrMagic or ErrShort
			if len(b) == 1 && b[0] == wire.Magic0 {
				// 0xFA is never text: a lone first magic byte is a cut-off header.
				return s.malformed(&s.stats.short, p, "short")
			}
			if len(b) != 0 && s.rates != nil && !s.cfg.disableRaw {
				if ok, _ := s.rates.allow(rateKey(p.remote), s.now()); !ok {
					s.stats.rateLimited.Add(1)
					return s.drop(&s.stats.rateLimitedDropped, p, "rate limited") // raw text has no NACK
				}
			}
			return s.processRaw(ctx, p, b, over, reply)
		}
		return s.rejected(p, h, perr, len(b))
	}
	proved := false // the DATA echoed a valid cookie (cookie.go)
	if s.rates != nil {
		var out []byte
		var limited bool
		if out, limited, proved = s.limit(p, h, b, over, reply); limited {
			return out
		}
	}
	t := h.Type
	if over {
		s.stats.oversized.Add(1)
		if t != wire.TypeData {
			return s.drop(&s.stats.oversizedDropped, p, "oversized") // a PONG would be as large as the PING
		}
		s.stats.nack(wire.CodeTooLarge)
		return wire.AppendNack(reply[:0], h.ID, wire.CodeTooLarge, "", wire.HeaderLen)
	}
	if t == wire.TypePing {
		s.stats.pings.Add(1)
		return wire.Append(reply[:0], wire.Header{Type: wire.TypePong, ID: h.ID}, body)
	}

	return s.runExchange(ctx, p, makeDedupKey(unmap(p.remote), h.ID), h.ID, body, n, s.now(), proved, reply)
}

// runExchange runs the handler for a DATA message once per de-duplication
// key and returns its reply (appended to reply[:0]), never longer than
// limit, or nil to send nothing. now is the server clock; proved says the
// DATA echoed a valid cookie.
func (s *worker) runExchange(ctx context.Context, p *packet, key dedupKey, id uint64, body []byte, limit int, now int64, proved bool, reply []byte) []byte {
	state, code, reason := s.dedup.begin(key, now, proved)
	switch state {
	case dedupRunning:
		return s.drop(&s.stats.inProgress, p, "in progress")
	case dedupDone:
		s.stats.duplicates.Add(1)
		return s.answer(reply, id, code, reason, limit)
	case dedupUnproved:
		// The claimed share is full, perhaps of forgeries: a sender that
		// proves its address (echoes the cookie) is counted in shares of
		// its own. Without a cookie to send, busy.
		out := s.cookieNack(p, id, limit, now, reply) // cookie.go
		s.dedup.refuse(reason, out != nil)
		if out != nil {
			return out
		}
		fallthrough
	case dedupFull:
		s.stats.busy.Add(1)
		s.stats.nack(wire.CodeBusy)
		if wire.HeaderLen+len(reason) > limit {
			reason = "" // the text whole, or the code alone
		}
		return wire.AppendNack(reply[:0], id, code, reason, limit)
	}
	p.ex.key, p.ex.size = key, limit
	p.ex.sealed, p.ex.keyID = p.auth.ok, p.auth.key // a deferred reply is sealed too
	code, reason, deferred := s.handle(ctx, p, id, false, body)
	if deferred {
		return nil // the Responder replies
	}
	s.dedup.finish(key, code, reason)
	return s.answer(reply, id, code, reason, limit)
}

// rejected counts and drops a udpkit datagram the server does not handle,
// under the counter of its first broken rule. Off the hot path.
func (s *worker) rejected(p *packet, h wire.Header, perr error, n int) []byte {
	switch {
	case perr == wire.ErrCookie:
		return s.malformed(&s.stats.flags, p, "cookie flag") // misplaced, or the cookie is cut
	case perr == wire.ErrShort:
		return s.malformed(&s.stats.short, p, "short")
	case perr == wire.ErrVersion:
		return s.malformed(&s.stats.version, p, "version")
	case perr == wire.ErrType:
		return s.malformed(&s.stats.badType, p, "type")
	case perr == wire.ErrFlags:
		return s.malformed(&s.stats.flags, p, "flags")
	case h.Flags&wire.FlagAuth != 0 && s.recv == nil:
		// A server without keys cannot check it: PROTOCOL.md section 5.
		// (A missing trailer, ErrTrailer, lands here too.)
		return s.malformed(&s.stats.auth, p, "auth")
	case perr == wire.ErrTrailer:
		return s.malformed(&s.stats.short, p, "short") // the authentication trailer is cut
	case h.Type != wire.TypeData && h.Type != wire.TypePing:
		// Replies (ACK, NACK, PONG) and discovery or multicast-test
		// messages are not for this server; answering could loop.
		return s.malformed(&s.stats.unexpected, p, "unexpected type")
	}
	return s.malformed(&s.stats.field, p, "field")
}

// processRaw handles a datagram without the udpkit magic (PROTOCOL.md
// section 4).
func (s *worker) processRaw(ctx context.Context, p *packet, b []byte, over bool, reply []byte) []byte {
	switch {
	case len(b) == 0:
		return s.drop(&s.stats.empty, p, "empty")
	case s.cfg.disableRaw:
		return s.drop(&s.stats.rawDropped, p, "raw disabled")
	case over:
		s.stats.oversized.Add(1)
		return s.drop(&s.stats.oversizedDropped, p, "oversized")
	}
	s.stats.raw.Add(1)
	p.ex.size = len(b)
	if code, _, deferred := s.handle(ctx, p, 0, true, b); deferred || code != wire.CodeNone {
		// Raw mode has no words for a refusal: stay silent.
		return nil
	}
	s.stats.acked.Add(1)
	return append(reply[:0], "ack\n"[:min(4, len(b))]...)
}

// answer appends the ACK (code wire.CodeNone) or NACK for id, never
// longer than the request of size limit.
func (s *worker) answer(reply []byte, id uint64, code wire.Code, reason string, limit int) []byte {
	if code == wire.CodeNone {
		s.stats.acked.Add(1)
		return wire.AppendAck(reply[:0], id)
	}
	s.stats.nack(code)
	if len(reason) > limit-wire.HeaderLen {
		// Whole or not at all: a reason cut to what a short request
		// leaves room for ("rejected (busy): c") says nothing true.
		reason = ""
	}
	return wire.AppendNack(reply[:0], id, code, reason, limit)
}

// handle runs the handler and turns its result into a reply code and text,
// or reports that the handler deferred the reply (Request.Defer). With
// MeasureHandlers set it times the handler with two reads of the clock of
// its own, not the batch's (which may be older than the handler's start);
// a deferred reply is timed to the handler's return.
func (s *worker) handle(ctx context.Context, p *packet, id uint64, raw bool, payload []byte) (wire.Code, string, bool) {
	s.stats.handled.Add(1)
	if s.cfg.handler == nil {
		return wire.CodeNone, "", false
	}
	r := &p.req
	p.ex.s, p.ex.p, p.ex.resp = s.Server, p, nil
	*r = Request{ID: id, Raw: raw, Payload: payload, Remote: unmap(p.remote), Local: unmap(p.local), ex: &p.ex,
		Authenticated: p.auth.ok, KeyID: p.auth.key, Sender: p.auth.sender}
	var start int64
	if s.cfg.measure {
		start = s.Server.now()
	}
	err := s.serveUDP(ctx, r)
	if s.cfg.measure {
		s.stats.handlerTime.observe(s.Server.now() - start)
	}
	*r = Request{}
	if resp := p.ex.resp; resp != nil {
		p.ex.resp = nil
		if err != nil {
			resp.Done(err)
		}
		return 0, "", true
	}
	code, reason := s.result(err)
	return code, reason, false
}

// result turns a handler's error into a reply code and text.
func (s *Server) result(err error) (wire.Code, string) {
	if err == nil {
		return wire.CodeNone, ""
	}
	s.stats.rejected.Add(1)
	if re, ok := errors.AsType[*RejectError](err); ok {
		return re.code(), wholeReason(re.Reason)
	}
	return wire.CodeRejected, wholeReason(err.Error())
}

// wholeReason is a handler's reason as the NACK carries it: whole, or not
// at all when longer than maxReasonLen (the code alone then says it).
func wholeReason(s string) string {
	if len(s) > maxReasonLen {
		return ""
	}
	return s
}

// serveUDP calls the handler, turning a panic into an error: one bad
// message must not take the server down.
func (s *worker) serveUDP(ctx context.Context, r *Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			s.stats.panics.Add(1)
			s.logLimited(&s.logPanic, slog.LevelError, "udpserver: handler panicked", "panic", v, "from", r.Remote, "id", wire.IDString(r.ID), "stack", string(debug.Stack()))
			err = errHandlerPanic
		}
	}()
	return s.cfg.handler.ServeUDP(ctx, r)
}

// drop counts a datagram dropped unanswered under c (and Dropped) and
// logs it at debug level with its reason, rate-limited (log.go).
func (s *worker) drop(c *count, p *packet, why string) []byte {
	c.Add(1)
	s.stats.dropped.Add(1)
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.logLimited(&s.logDrop, slog.LevelDebug, "udpserver: dropped datagram", "from", p.remote, "reason", why, "size", p.n)
	}
	return nil
}

// malformed counts a dropped datagram under c and logs it at debug level.
func (s *worker) malformed(c *count, p *packet, why string) []byte {
	c.Add(1)
	s.stats.malformed.Add(1)
	s.stats.dropped.Add(1)
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		// Only here, at debug level, is the detail worth an allocation.
		b := p.buf[:min(p.n, len(p.buf))]
		s.logLimited(&s.logMalformed, slog.LevelDebug, "udpserver: dropped malformed datagram", "from", p.remote, "reason", why, "size", p.n, "detail", wire.Explain(b))
	}
	return nil
}

// unmap returns ap with an IPv4-mapped IPv6 address turned into IPv4, so
// that one sender has one key whichever socket it reached.
func unmap(ap netip.AddrPort) netip.AddrPort {
	if ap.Addr().Is4In6() {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return ap
}
