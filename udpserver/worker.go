package udpserver

import (
	"context"
	"sync/atomic"

	"github.com/udpkit/udpkit/wire"
)

// worker is what one read-handle-reply loop owns besides its packets: its
// share of the counters and the clock of the batch it is processing. The
// protocol (process.go) runs as worker methods; everything else it uses
// comes from the embedded Server.
//
// Why: a shared atomic counter costs a locked instruction per datagram (and
// a cache line bouncing between cores with several sockets), and a clock
// read costs a vDSO call; the C reference server pays neither. A worker
// counts in plain integers and adds them to the Server's atomic counters
// once per batch, before the batch's replies leave (so a client that got
// its reply sees it counted in Stats); it reads the clock at most once per
// batch, and only when a datagram needs it (a DATA's de-duplication entry,
// the rate limiter).
type worker struct {
	*Server
	stats tally // shadows Server.stats in the worker's methods
	clock int64 // server clock for this batch; -1 until read
}

func newWorker(s *Server) *worker { return &worker{Server: s, clock: -1} }

// now returns the batch's clock, reading it on first use.
func (w *worker) now() int64 {
	if w.clock < 0 {
		w.clock = w.Server.now()
	}
	return w.clock
}

// done ends a batch: it publishes the counts and forgets the clock.
func (w *worker) done() {
	w.Server.stats.add(&w.stats)
	w.clock = -1
}

// process runs the protocol on one datagram with a worker of its own, for
// callers outside a worker loop (tests, benchmarks).
func (s *Server) process(ctx context.Context, p *packet, reply []byte) []byte {
	w := worker{Server: s, clock: -1}
	out := w.process(ctx, p, reply)
	w.done()
	return out
}

// count is one of a worker's counters: written by that worker only, so a
// plain integer. Add has the shape of atomic.Uint64's, so that the protocol
// code counts the same way whichever it holds.
type count uint64

// Add adds n.
func (c *count) Add(n uint64) { *c += count(n) }

// tally is a worker's share of counters, field for field.
type tally struct {
	received, handled, rejected, panics, raw, duplicates, inProgress, pings, busy count
	acked, nacked                                                                 count
	oversized, empty, rawDropped                                                  count
	malformed, short, version, badType, flags, field, unexpected, auth            count
	dropped, readErrors, writeErrors, rateLimited                                 count
	unauthenticated, badTag, replayed, stale, authSendersFull                     count
	oversizedDropped, rateLimitedDropped                                          count
	cookies, cookieValid, cookieInvalid                                           count
	nacks                                                                         [256]count // by code; nacked is their sum
	handlerTime                                                                   histTally
}

// nack counts a NACK sent with code.
func (t *tally) nack(code wire.Code) {
	t.nacked++
	t.nacks[code]++
}

// add moves t's counts into c and zeroes t: one atomic addition per
// counter that moved, none for the others.
func (c *counters) add(t *tally) {
	if t.nacked != 0 { // the codes first: NackedByCode never sums past Nacked
		for i := range t.nacks {
			mv(&c.nacks[i], &t.nacks[i])
		}
	}
	if t.handlerTime.n != 0 {
		c.handlerTime.add(&t.handlerTime)
	}
	mv(&c.received, &t.received)
	mv(&c.cookies, &t.cookies)
	mv(&c.cookieValid, &t.cookieValid)
	mv(&c.cookieInvalid, &t.cookieInvalid)
	mv(&c.handled, &t.handled)
	mv(&c.acked, &t.acked)
	mv(&c.nacked, &t.nacked)
	mv(&c.duplicates, &t.duplicates)
	mv(&c.pings, &t.pings)
	mv(&c.dropped, &t.dropped)
	mv(&c.busy, &t.busy)
	mv(&c.rejected, &t.rejected)
	mv(&c.panics, &t.panics)
	mv(&c.raw, &t.raw)
	mv(&c.inProgress, &t.inProgress)
	mv(&c.oversized, &t.oversized)
	mv(&c.empty, &t.empty)
	mv(&c.rawDropped, &t.rawDropped)
	mv(&c.malformed, &t.malformed)
	mv(&c.short, &t.short)
	mv(&c.version, &t.version)
	mv(&c.badType, &t.badType)
	mv(&c.flags, &t.flags)
	mv(&c.field, &t.field)
	mv(&c.unexpected, &t.unexpected)
	mv(&c.auth, &t.auth)
	mv(&c.readErrors, &t.readErrors)
	mv(&c.writeErrors, &t.writeErrors)
	mv(&c.rateLimited, &t.rateLimited)
	mv(&c.oversizedDropped, &t.oversizedDropped)
	mv(&c.rateLimitedDropped, &t.rateLimitedDropped)
	mv(&c.unauthenticated, &t.unauthenticated)
	mv(&c.badTag, &t.badTag)
	mv(&c.replayed, &t.replayed)
	mv(&c.stale, &t.stale)
	mv(&c.authSendersFull, &t.authSendersFull)
}

func mv(dst *atomic.Uint64, src *count) {
	if *src != 0 {
		dst.Add(uint64(*src))
		*src = 0
	}
}
