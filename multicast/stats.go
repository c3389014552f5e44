package multicast

import (
	"math"
	"time"
)

// maxTrackedSeqs bounds the duplicate bitmap of one sequence tracker
// (128 KiB); sequence numbers further than this from the first one are
// counted but no longer checked for duplicates.
const maxTrackedSeqs = 1 << 20

// seqTracker counts the distinct sequence numbers of one stream (one
// sender session, one kind), with duplicates and reordering.
type seqTracker struct {
	first, highest uint32
	received       uint32 // distinct
	dups           int
	reordered      int
	seen           []uint64 // bit k: seq first+k was seen
}

// add records seq (> 0) and reports whether it was a duplicate and
// whether it arrived after a higher one.
func (t *seqTracker) add(seq uint32) (dup, reordered bool) {
	if t.received == 0 && t.dups == 0 {
		t.first, t.highest, t.received = seq, seq, 1
		t.mark(seq)
		return false, false
	}
	if seq < t.first {
		// Earlier than the first one seen: shift the window start.
		t.rebase(seq)
	}
	if t.isSet(seq) {
		t.dups++
		return true, false
	}
	t.mark(seq)
	t.received++
	if seq < t.highest {
		t.reordered++
		return false, true
	}
	t.highest = seq
	return false, false
}

func (t *seqTracker) rebase(seq uint32) {
	shift := uint64(t.first - seq)
	if shift >= maxTrackedSeqs {
		t.seen = nil
	} else {
		old := t.seen
		t.seen = nil
		for k := range uint64(len(old)) * 64 {
			if old[k/64]&(1<<(k%64)) != 0 && k+shift < maxTrackedSeqs {
				t.setBit(k + shift)
			}
		}
	}
	t.first = seq
}

func (t *seqTracker) isSet(seq uint32) bool {
	k := uint64(seq - t.first)
	return k < uint64(len(t.seen))*64 && t.seen[k/64]&(1<<(k%64)) != 0
}

func (t *seqTracker) mark(seq uint32) {
	if k := uint64(seq - t.first); k < maxTrackedSeqs {
		t.setBit(k)
	}
}

func (t *seqTracker) setBit(k uint64) {
	for uint64(len(t.seen)) <= k/64 {
		t.seen = append(t.seen, 0)
	}
	t.seen[k/64] |= 1 << (k % 64)
}

// rttStats accumulates round-trip times (Welford's algorithm).
type rttStats struct {
	n        int
	min, max time.Duration
	mean, m2 float64 // nanoseconds
}

func (s *rttStats) add(d time.Duration) {
	if s.n == 0 || d < s.min {
		s.min = d
	}
	if d > s.max {
		s.max = d
	}
	s.n++
	x := float64(d)
	delta := x - s.mean
	s.mean += delta / float64(s.n)
	s.m2 += delta * (x - s.mean)
}

// stddev is the population standard deviation (ping's mdev).
func (s *rttStats) stddev() time.Duration {
	if s.n == 0 {
		return 0
	}
	return time.Duration(math.Sqrt(s.m2 / float64(s.n)))
}

// lossPercent returns 100*(1-rcv/xmt), 0 when xmt is 0, clamped to 0..100.
func lossPercent(xmt, rcv int) float64 {
	if xmt <= 0 {
		return 0
	}
	l := 100 * float64(xmt-rcv) / float64(xmt)
	return math.Max(0, math.Min(100, l))
}
