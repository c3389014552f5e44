package udpserver

import (
	"sync/atomic"
	"time"
)

// HistogramBounds are the upper bounds of the buckets of a Histogram, from
// 10 µs to 10 s in 1-2.5-5 steps: wide enough for a handler that answers
// from memory and one that waits for a disk or a network.
var HistogramBounds = [...]time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Histogram is a snapshot of a distribution of durations.
type Histogram struct {
	// Buckets[i] counts the observations no longer than
	// HistogramBounds[i] and longer than the bound before it; the last
	// element counts those longer than every bound.
	Buckets [len(HistogramBounds) + 1]uint64
	Count   uint64        // observations
	Sum     time.Duration // their total
}

// histogram is the live, atomic counterpart of Histogram. Workers observe
// into a histTally of their own and add it once per batch: an observation
// costs a few comparisons and never allocates.
type histogram struct {
	buckets [len(HistogramBounds) + 1]atomic.Uint64
	sum     atomic.Int64 // ns
}

// snapshot reads the buckets one by one while observations go on, so
// Count is the sum of the Buckets read, and Sum may be a little ahead.
func (h *histogram) snapshot() Histogram {
	var out Histogram
	for i := range h.buckets {
		out.Buckets[i] = h.buckets[i].Load()
		out.Count += out.Buckets[i]
	}
	out.Sum = time.Duration(h.sum.Load())
	return out
}

// add moves a worker's observations into h and zeroes t.
func (h *histogram) add(t *histTally) {
	for i, n := range t.buckets {
		if n != 0 {
			h.buckets[i].Add(uint64(n))
		}
	}
	h.sum.Add(t.sum)
	*t = histTally{}
}

// histTally is a worker's share of a histogram, in plain integers like the
// rest of its tally (worker.go); add publishes it once per batch.
type histTally struct {
	buckets [len(HistogramBounds) + 1]count
	sum     int64 // ns
	n       count // observations: the sum of buckets
}

func (t *histTally) observe(ns int64) {
	i := 0
	for i < len(HistogramBounds) && ns > int64(HistogramBounds[i]) {
		i++
	}
	t.buckets[i]++
	t.sum += ns
	t.n++
}
