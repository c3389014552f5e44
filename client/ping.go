package client

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// Pong is the outcome of one PING: a PONG, a duplicate PONG, or an error.
type Pong struct {
	ID   uint64        // the PING's message ID
	Size int           // bytes in the PONG datagram, header included
	RTT  time.Duration // from the PING's transmission to the PONG's arrival
	Dup  bool          // a further PONG for a PING that was already answered
	Err  error         // instead of a PONG: ErrRefused (ICMP port unreachable) or ErrUnreachable (host or network unreachable)
}

type pingRecord struct {
	id      uint64
	fn      func(Pong)
	sentAt  time.Time
	sent    bool // the write succeeded
	replies int
	refused bool
}

// StartPing sends one PING carrying body (padding, echoed by the server) and
// returns its ID at once, without waiting, the way ping(8) sends. fn is then
// called from the client's reader for every PONG with that ID: the first
// with Dup false, any further ones with Dup true, late ones included. When
// the socket reports an ICMP port unreachable, fn of the newest PING that
// has no answer yet is called once with Err matching ErrRefused.
//
// fn must not block. It may run before StartPing returns. The client
// remembers a PING for ExchangeLifetime (and at most the 65536 newest), or
// until Close.
func (c *Client) StartPing(body []byte, fn func(Pong)) (uint64, error) {
	id := c.newID()
	if err := c.checkSize("ping body", len(body)); err != nil {
		return id, err
	}
	dg, err := c.auth.seal(wire.Append(make([]byte, 0, wire.HeaderLen+len(body)), wire.Header{Type: wire.TypePing, ID: id}, body))
	if err != nil {
		return id, fmt.Errorf("client: %w", err)
	}
	rec := &pingRecord{id: id, fn: fn}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return id, fmt.Errorf("client: %w", net.ErrClosed)
	}
	c.prunePings(time.Now())
	c.pings[id] = rec
	c.pingOrder = append(c.pingOrder, id)
	// Marked sent before the write: the ICMP error it provokes may be read
	// before the write returns.
	rec.sentAt, rec.sent = time.Now(), true
	c.mu.Unlock()

	_, err = c.conn.Write(dg)
	if err != nil && isUnreachable(err) {
		// Most likely the report of an earlier datagram's ICMP error: give
		// it to that PING and try again; a second one is this PING's.
		c.mu.Lock()
		rec.sent = false
		c.mu.Unlock()
		c.unreachable(err)
		c.mu.Lock()
		rec.sentAt, rec.sent = time.Now(), true
		c.mu.Unlock()
		_, err = c.conn.Write(dg)
	}
	if err != nil && isRefused(err) {
		// The write reported the ICMP error of an earlier datagram and did
		// not send this one: attribute the error, then try again.
		c.mu.Lock()
		rec.sent = false
		c.mu.Unlock()
		c.refused()
		c.mu.Lock()
		rec.sentAt, rec.sent = time.Now(), true
		c.mu.Unlock()
		_, err = c.conn.Write(dg)
	}
	if err != nil {
		c.forgetPing(id)
		if isRefused(err) {
			return id, c.refusedErr()
		}
		if isUnreachable(err) {
			return id, fmt.Errorf("%w: %s (%w)", ErrUnreachable, c.remote, err)
		}
		return id, fmt.Errorf("client: send to %s: %w", c.remote, err)
	}
	c.sent.Add(1)
	return id, nil
}

// Ping sends one PING carrying body and waits for its PONG, or until ctx
// ends. There is no retransmission: give ctx a deadline (ping's -W).
func (c *Client) Ping(ctx context.Context, body []byte) (Pong, error) {
	ch := make(chan Pong, 1)
	id, err := c.StartPing(body, func(p Pong) {
		select {
		case ch <- p:
		default: // a duplicate after the first answer
		}
	})
	if err != nil {
		return Pong{ID: id}, err
	}
	defer c.forgetPing(id)
	select {
	case p := <-ch:
		return p, p.Err
	case <-ctx.Done():
		return Pong{ID: id}, fmt.Errorf("ping %#x: %w", id, ctx.Err())
	case <-c.done:
		return Pong{ID: id}, fmt.Errorf("client: %w", net.ErrClosed)
	}
}

func (c *Client) forgetPing(id uint64) {
	c.mu.Lock()
	delete(c.pings, id)
	c.mu.Unlock()
}

// prunePings drops PING records older than the exchange lifetime, and the
// oldest beyond maxPings. c.mu is held.
func (c *Client) prunePings(now time.Time) {
	n := 0
	for n < len(c.pingOrder) {
		r := c.pings[c.pingOrder[n]]
		if r != nil && len(c.pingOrder)-n < maxPings && now.Sub(r.sentAt) < c.cfg.lifetime {
			break
		}
		delete(c.pings, c.pingOrder[n])
		n++
	}
	if n > 0 {
		c.pingOrder = append(c.pingOrder[:0], c.pingOrder[n:]...)
	}
}

// pong hands a PONG to its PING's function.
func (c *Client) pong(id uint64, size int, at time.Time) {
	c.mu.Lock()
	r := c.pings[id]
	if r == nil {
		c.mu.Unlock()
		c.unmatched.Add(1)
		return
	}
	r.replies++
	p := Pong{ID: id, Size: size, RTT: at.Sub(r.sentAt), Dup: r.replies > 1}
	fn := r.fn
	c.mu.Unlock()
	fn(p)
}
