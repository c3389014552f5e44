package client

import (
	"sync"
	"time"
)

// rtoEstimator computes the retransmission timeout from measured round trips
// as RFC 6298 does: SRTT and RTTVAR smoothed with gains 1/8 and 1/4, RTO =
// SRTT + 4*RTTVAR, clamped to [min, max]. Before the first sample the
// timeout is the configured initial one. Only unambiguous samples are fed
// (Karn's algorithm: never from a retransmitted message).
//
// Unlike RFC 6298 5.5, a retransmission timeout does not double the shared
// RTO for later messages: each message backs off its own timer, and SendAll
// halves its window. Under heavy random loss (30% each way, about half the
// exchanges lose a datagram) a shared back-off that only an unambiguous
// sample can undo grows without bound and stalls the sender for seconds.
type rtoEstimator struct {
	mu                sync.Mutex
	initial, min, max time.Duration
	measured          bool
	srtt, rttvar, rto time.Duration
}

func (e *rtoEstimator) init(initial, minRTO, maxRTO time.Duration) {
	e.initial, e.min, e.max = initial, minRTO, maxRTO
	e.rto = initial
}

// base returns the current timeout before jitter.
func (e *rtoEstimator) base() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rto
}

// hasSample reports whether a round trip was measured.
func (e *rtoEstimator) hasSample() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.measured
}

// sample feeds one round-trip measurement.
func (e *rtoEstimator) sample(r time.Duration) {
	if r < 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.measured {
		e.measured = true
		e.srtt = r
		e.rttvar = r / 2
	} else {
		d := e.srtt - r
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	e.rto = max(e.min, min(e.srtt+4*e.rttvar, e.max))
}

// congestionWindow limits SendAll's datagrams in flight (RFC 8085 3.1): one
// until a round trip was measured, then slow start (+1 per acknowledgement)
// up to the threshold, then additive increase (+1 per window acknowledged),
// and halving on a retransmission timeout.
type congestionWindow struct {
	w, ssthresh, limit float64
}

func newCongestionWindow(limit int) congestionWindow {
	return congestionWindow{w: 1, ssthresh: float64(limit), limit: float64(limit)}
}

// size returns how many datagrams may be in flight.
func (c *congestionWindow) size(measured bool) int {
	if !measured {
		return 1
	}
	return max(1, int(c.w))
}

func (c *congestionWindow) onAck(measured bool) {
	if !measured {
		return
	}
	if c.w < c.ssthresh {
		c.w++
	} else {
		c.w += 1 / c.w
	}
	c.w = min(c.w, c.limit)
}

func (c *congestionWindow) onLoss() {
	c.w = max(1, c.w/2)
	c.ssthresh = c.w
}
