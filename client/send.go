package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// Result describes one message's exchange.
type Result struct {
	// ID is the message ID the client chose.
	ID uint64
	// Attempts is the number of transmissions: 1 when the first one was
	// answered.
	Attempts int
	// RTT is the round trip of the exchange that got the reply, measured
	// from the latest transmission. With Attempts == 1 it is exact and feeds
	// the adaptive timeout; after a retransmission the reply may answer an
	// earlier copy, so the figure is a lower bound and is not used for the
	// timeout (Karn's algorithm).
	RTT time.Duration
	// Elapsed is the time from the first transmission to the outcome,
	// whatever it was.
	Elapsed time.Duration
	// Busy is how many NACK busy answers came before the outcome: the
	// server could not take the message then (overloaded, its storage did
	// not confirm it, or a de-duplication share was full), so the client
	// retransmitted it, same ID, after the timeout, within the same retry
	// budget.
	Busy int
	// RateLimited is how many NACK "rate limited" answers came before the
	// outcome, each retried like a NACK busy (and, in SendAll, with the
	// window halved: the server asked the client to slow down).
	RateLimited int
}

// congestion reports whether a NACK with code says "not now" rather than
// "never": busy or rate limited (PROTOCOL.md, NACK reason codes).
func congestion(code wire.Code) bool {
	return code == wire.CodeBusy || code == wire.CodeRateLimited
}

// retryNack reports whether reply r is a NACK busy or rate limited that
// the message should be retransmitted after: attempts made so far, first
// sent at first.
func (c *Client) retryNack(r reply, attempts int, first time.Time) bool {
	return !c.busyFails && r.err == nil && r.typ == wire.TypeNack && congestion(r.code) &&
		attempts <= c.cfg.retries && time.Since(first) < c.cfg.lifetime
}

// countNack counts a retried NACK busy or rate limited in res.
func countNack(res *Result, code wire.Code) {
	if code == wire.CodeRateLimited {
		res.RateLimited++
	} else {
		res.Busy++
	}
}

// Send sends payload as one DATA message and waits for the server's ACK,
// retransmitting the identical datagram (same ID) with exponential back-off:
// the first timeout is the base timeout (Config.InitialTimeout until a round
// trip was measured, the adaptive RTO after that) times a random factor in
// [1, 1.5), each further one twice the previous, capped at
// Config.MaxTimeout; after Config.Retries retransmissions and the last
// timeout, or ExchangeLifetime after the first transmission, Send gives up
// with ErrTimeout.
//
// A NACK busy or rate limited (the server could not take the message now)
// is retransmitted like a loss, with the same ID, a whole timeout after
// the NACK came, while retries remain (Result.Busy and Result.RateLimited
// count them); after the last one it is the error, a *RejectedError whose
// Attempts says how many tries were made.
//
// The error is nil for an ACK; a *RejectedError for a NACK; ErrRefused (at
// once) when the kernel reports an ICMP port unreachable; ErrTooLarge before
// sending anything; the context's error, wrapped, when ctx ends first. The
// Result is filled as far as the exchange got.
func (c *Client) Send(ctx context.Context, payload []byte) (Result, error) {
	return c.sendID(ctx, c.newID(), payload)
}

// sendID is Send with message ID id.
func (c *Client) sendID(ctx context.Context, id uint64, payload []byte) (Result, error) {
	return c.sendVisit(ctx, id, payload, &visit{})
}

// visit is one message's retransmission state carried from server to
// server by a ServiceClient: the budget and the back-off are the
// message's, not each server's.
type visit struct {
	first    time.Time     // first transmission to any server; zero: none yet
	attempts int           // transmissions before this visit
	timeout  time.Duration // the next timeout; 0: the client's first timeout
	tries    int           // most transmissions in this visit; 0: the whole budget
}

// sendVisit is sendID continuing v; it leaves v ready for the next visit.
func (c *Client) sendVisit(ctx context.Context, id uint64, payload []byte, v *visit) (Result, error) {
	res := Result{ID: id, Attempts: v.attempts}
	dg, err := c.datagram(id, payload)
	if err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("message %#x: %w", id, err)
	}
	ch := make(chan reply, 1) // the reader delivers at most once
	if err := c.register(id, func(r reply) { ch <- r }); err != nil {
		return res, err
	}
	defer c.unregister(id)

	timeout := v.timeout
	if timeout <= 0 {
		timeout = c.firstTimeout()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	first, last := v.first, time.Time{}
	var lastErr error
	defer func() { v.first, v.attempts, v.timeout = first, res.Attempts, timeout }()
	for {
		last = time.Now()
		if first.IsZero() {
			first = last
		}
		if res.Attempts > 0 {
			c.retransmitted.Add(1)
		}
		res.Attempts++
		if err := c.transmit(dg, res.Attempts); err != nil && !errors.Is(err, ErrRefused) {
			if !isTransient(err) {
				res.Elapsed = time.Since(first)
				return res, err
			}
			lastErr = err // as good as lost on the way: the timer resends
		} // a refusal was delivered to ch
		timer.Reset(timeout)
		r, ok, err := c.await(ctx, ch, timer, timeout, id, dg, &res, first)
		if err != nil {
			return res, err
		}
		if ok {
			return c.outcome(res, r, first, last)
		}
		now := time.Now()
		timeout = min(2*timeout, c.cfg.max)
		if res.Attempts > c.cfg.retries || now.Sub(first) >= c.cfg.lifetime || v.tries > 0 && res.Attempts-v.attempts >= v.tries {
			res.Elapsed = now.Sub(first)
			return res, timeoutError(res, lastErr)
		}
	}
}

// await waits for Send's reply to message id until the timer fires (ok
// false) or ctx ends or the client closes (err). A NACK busy or rate
// limited that may be retried is counted in res and waited past, as if
// lost, with the timer restarted at timeout: the server asked for time.
func (c *Client) await(ctx context.Context, ch chan reply, timer *time.Timer, timeout time.Duration, id uint64, dg []byte, res *Result, first time.Time) (r reply, ok bool, err error) {
	for {
		select {
		case r := <-ch:
			if !c.retryNack(r, res.Attempts, first) {
				return r, true, nil
			}
			countNack(res, r.code)
			if r.cookie || c.askCookie(r, dg, res.Attempts) {
				// The server wants its cookie back before it counts
				// this sender apart from forgeries: resend now, with it.
				if err := c.register(id, func(r reply) { ch <- r }); err != nil {
					return r, false, err
				}
				return reply{}, false, nil
			}
			timer.Reset(timeout)
			if err := c.register(id, func(r reply) { ch <- r }); err != nil {
				return r, false, err
			}
		case <-timer.C:
			return reply{}, false, nil
		case <-ctx.Done():
			res.Elapsed = time.Since(first)
			return reply{}, false, fmt.Errorf("message %#x: %w", id, ctx.Err())
		case <-c.done:
			res.Elapsed = time.Since(first)
			return reply{}, false, fmt.Errorf("client: %w", net.ErrClosed)
		}
	}
}

func timeoutError(res Result, lastErr error) error {
	var nacks string // the server's earlier "not now", if any: why it took so long
	if res.RateLimited > 0 {
		nacks += fmt.Sprintf(", rate limited by the server %d times", res.RateLimited)
	}
	if res.Busy > 0 {
		nacks += fmt.Sprintf(", NACK busy %d times", res.Busy)
	}
	if lastErr != nil {
		return fmt.Errorf("%w after %d attempts over %v%s (last send error: %v)", ErrTimeout, res.Attempts, res.Elapsed.Round(time.Millisecond), nacks, lastErr)
	}
	return fmt.Errorf("%w after %d attempts over %v%s", ErrTimeout, res.Attempts, res.Elapsed.Round(time.Millisecond), nacks)
}

// isTransient reports whether a failed send should count as a datagram lost
// on the way rather than end the exchange: a firewall that drops it
// (EPERM), a full queue (ENOBUFS, EAGAIN), or a route that is missing for
// now. Retransmission covers those like any other loss; if they persist,
// the timeout error names the last one.
func isTransient(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOBUFS) ||
		errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.EHOSTUNREACH)
}

// outcome turns a reply into the message's result and error, and feeds the
// round trip to the estimator when it is unambiguous.
func (c *Client) outcome(res Result, r reply, first, last time.Time) (Result, error) {
	res.RTT = r.at.Sub(last)
	res.Elapsed = r.at.Sub(first)
	if r.err != nil {
		return res, r.err
	}
	if res.Attempts == 1 {
		c.rtt.sample(res.RTT)
	}
	if r.typ == wire.TypeNack {
		return res, &RejectedError{ID: res.ID, Code: r.code, Reason: r.reason, Attempts: res.Attempts}
	}
	return res, nil
}

// SendAll sends every payload of the sequence as its own DATA message with
// several in flight at once, and calls fn with each outcome as it arrives,
// in any order: i is the payload's index in the sequence (from 0), r and
// err are what Send would have returned for it.
//
// The number in flight follows RFC 8085, section 3.1: one until a round
// trip was measured, then growing towards Config.Window (slow start, then
// one more per window acknowledged), halved on a retransmission timeout
// and on a NACK busy or rate limited (at most once per window of them): the
// server is congested, or asked the client to slow down. Such a message is
// retransmitted a whole timeout after its NACK came.
// Each message is retransmitted as Send does, with the adaptive timeout.
//
// fn is called from the goroutine that called SendAll, one call at a time;
// a slow fn delays the other messages' timers. A payload that is too large
// is reported with ErrTooLarge and the others go on. SendAll copies each
// payload before the sequence goes on, so the sequence may reuse its buffer.
// The sequence runs in a goroutine of its own; if it blocks (on a terminal,
// say) when SendAll returns, that goroutine ends when the sequence next
// yields.
//
// SendAll returns nil when the sequence ended and every message had its
// outcome. It returns early, after reporting every message in flight with
// the same error, when the server refuses (ErrRefused: nothing listens, so
// the rest would fail too), when ctx ends (its error, wrapped) or when the
// client is closed.
func (c *Client) SendAll(ctx context.Context, payloads iter.Seq[[]byte], fn func(i int, r Result, err error)) error {
	type item struct {
		i   int
		id  uint64
		dg  []byte
		err error
	}
	items := make(chan item)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(items)
		i := 0
		for p := range payloads {
			it := item{i: i, id: c.newID()}
			it.dg, it.err = c.datagram(it.id, p) // copies p
			i++
			select {
			case items <- it:
			case <-stop:
				return
			}
		}
	}()

	type flight struct {
		i           int
		res         Result
		dg          []byte
		first, last time.Time
		timeout     time.Duration
		deadline    time.Time
		lastErr     error // the last transient send error, for the timeout message
	}
	inflight := make(map[uint64]*flight)
	var box inbox
	box.kick = make(chan struct{}, 1)
	cw := newCongestionWindow(c.cfg.window)
	var lastCut time.Time // flights last sent before it do not halve the window again
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	// fail reports every message in flight with err and returns err.
	fail := func(err error) error {
		now := time.Now()
		for id, f := range inflight {
			c.unregister(id)
			delete(inflight, id)
			f.res.Elapsed = now.Sub(f.first)
			fn(f.i, f.res, err)
		}
		return err
	}
	// send transmits f; it reports whether f is still in flight.
	send := func(id uint64, f *flight) bool {
		f.last = time.Now()
		if f.res.Attempts == 0 {
			f.first = f.last
		} else {
			c.retransmitted.Add(1)
		}
		f.res.Attempts++
		f.deadline = f.last.Add(f.timeout)
		err := c.transmit(f.dg, f.res.Attempts)
		if err == nil || errors.Is(err, ErrRefused) { // a refusal arrives through box
			return true
		}
		if isTransient(err) { // lost on the way; the deadline resends
			f.lastErr = err
			return true
		}
		c.unregister(id)
		delete(inflight, id)
		f.res.Elapsed = time.Since(f.first)
		fn(f.i, f.res, err)
		return false
	}

	more := true
	for more || len(inflight) > 0 {
		var in <-chan item
		if more && len(inflight) < cw.size(c.rtt.hasSample()) {
			in = items
		}
		if len(inflight) > 0 {
			var next time.Time
			for _, f := range inflight {
				if next.IsZero() || f.deadline.Before(next) {
					next = f.deadline
				}
			}
			timer.Reset(time.Until(next))
		} else {
			timer.Stop()
		}
		select {
		case it, ok := <-in:
			if !ok {
				more = false
				continue
			}
			if it.err != nil {
				fn(it.i, Result{ID: it.id}, it.err)
				continue
			}
			f := &flight{i: it.i, res: Result{ID: it.id}, dg: it.dg, timeout: c.firstTimeout()}
			if err := c.register(it.id, box.push); err != nil {
				fn(it.i, f.res, err)
				return fail(err)
			}
			inflight[it.id] = f
			send(it.id, f)
		case <-box.kick:
			var refused error
			for _, r := range box.drain() {
				f := inflight[r.id]
				if f == nil {
					continue // given up on a moment ago
				}
				if c.retryNack(r, f.res.Attempts, f.first) {
					// Congestion: slow down (once per window, like a
					// loss) and retransmit a whole timeout from now.
					countNack(&f.res, r.code)
					now := time.Now()
					if f.last.After(lastCut) {
						cw.onLoss()
						lastCut = now
					}
					f.deadline = now.Add(f.timeout)
					if err := c.register(r.id, box.push); err != nil {
						return fail(err)
					}
					if r.cookie || c.askCookie(r, f.dg, f.res.Attempts) {
						send(r.id, f) // with the cookie or the placeholder, at once (cookie.go)
					}
					continue
				}
				delete(inflight, r.id)
				res, err := c.outcome(f.res, r, f.first, f.last)
				if r.err == nil {
					cw.onAck(c.rtt.hasSample())
				} else if errors.Is(r.err, ErrRefused) {
					refused = r.err
				}
				fn(f.i, res, err)
			}
			if refused != nil {
				return fail(refused)
			}
		case <-timer.C:
			now := time.Now()
			for id, f := range inflight {
				if f.deadline.After(now) {
					continue
				}
				if f.last.After(lastCut) { // one cut per window of losses
					cw.onLoss()
					lastCut = now
				}
				if f.res.Attempts > c.cfg.retries || now.Sub(f.first) >= c.cfg.lifetime {
					c.unregister(id)
					delete(inflight, id)
					f.res.Elapsed = now.Sub(f.first)
					fn(f.i, f.res, timeoutError(f.res, f.lastErr))
					continue
				}
				f.timeout = min(2*f.timeout, c.cfg.max)
				send(id, f)
			}
		case <-ctx.Done():
			return fail(fmt.Errorf("client: %w", ctx.Err()))
		case <-c.done:
			return fail(fmt.Errorf("client: %w", net.ErrClosed))
		}
	}
	return nil
}

// inbox collects the replies of SendAll's messages without ever blocking
// the reader.
type inbox struct {
	mu   sync.Mutex
	q    []reply
	kick chan struct{} // capacity 1: "something is queued"
}

func (b *inbox) push(r reply) {
	b.mu.Lock()
	b.q = append(b.q, r)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *inbox) drain() []reply {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.q
	b.q = nil
	return q
}
