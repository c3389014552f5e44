package client

import (
	"fmt"

	"github.com/udpkit/udpkit/wire"
)

// PerSecond is the rate of replies over the run (0 for an empty run).
func (r BenchResult) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Replies) / r.Elapsed.Seconds()
}

// StatusLine is the interim line a tool prints on a status signal (as dd
// on SIGUSR1): "1200 sent, 1190 replies, 2 lost, 0 nacks in 1.0 s: 1190
// replies/s so far".
func (r BenchResult) StatusLine() string {
	return fmt.Sprintf("%d sent, %d replies, %d lost, %d nacks in %.1f s: %.0f replies/s so far",
		r.Sent, r.Replies, r.Lost, r.Nacks, r.Elapsed.Seconds(), float64(r.Replies)/r.Elapsed.Seconds())
}

// Warnings explain the figures of a run that measured something other
// than the server's capacity: its rate limit, its de-duplication table, or
// replies dropped for their authentication; none for a clean run.
func (r BenchResult) Warnings() []string {
	var w []string
	if r.RateLimited > 0 {
		w = append(w, fmt.Sprintf("the server rate-limited this host (%d NACKs \"rate limited\", and the datagrams over the limit were dropped): "+
			"run the server with --rate-limit 0 to measure it", r.RateLimited))
	}
	if busy := r.Nacks - r.RateLimited; busy > 0 && r.Kind == wire.TypeData {
		// Each request carries a fresh ID from one socket: past the
		// server's share per sender (16384 by default) it answers NACK
		// busy, which measures the table, not the server.
		w = append(w, fmt.Sprintf("%d requests got a NACK (busy, most likely: the server remembers at most --dedup-per-source message IDs of one sender for --dedup-window): "+
			"run the server with --dedup-window 0.2 --dedup-per-source 262144 --dedup-per-host 262144 to measure it, or bench --ping", busy))
	}
	if r.Unauthenticated+r.BadAuth > 0 {
		w = append(w, fmt.Sprintf("ignored %d unauthenticated and %d wrongly authenticated replies (does the server have the same key file, or none when bench has none?)",
			r.Unauthenticated, r.BadAuth))
	}
	return w
}
