package discovery

import (
	"net/netip"
	"time"
)

// Rate is a token-bucket limit: Burst events at once, then PerSecond
// events a second on average.
type Rate struct {
	// PerSecond is the sustained rate. Zero means the default of the
	// field the Rate is in; negative means no limit.
	PerSecond float64
	// Burst is how many events may come at once; default (0) twice
	// PerSecond, at least 1.
	Burst int
}

// Answer rate defaults (PROTOCOL.md section 6.5). A browser sends six
// rounds in its first 775 ms and then one a second, and each round asks
// for at most one answer per address family and interface; the defaults
// leave room for a few browsers on one host.
var (
	// DefaultSourceRate limits the answers to one source address.
	DefaultSourceRate = Rate{PerSecond: 20, Burst: 40}
	// DefaultGlobalRate limits an Announcer's answers in all.
	DefaultGlobalRate = Rate{PerSecond: 200, Burst: 400}
)

// maxSources is the hard cap on the source addresses an Announcer tracks
// for its per-source answer limit.
const maxSources = 1024

// sweepInterval is the shortest time between two sweeps of a full source
// table.
const sweepInterval = 100 * time.Millisecond

// resolveRate fills in r's defaults from def.
func resolveRate(r, def Rate) Rate {
	if r.PerSecond == 0 {
		r.PerSecond = def.PerSecond
		if r.Burst == 0 {
			r.Burst = def.Burst
		}
	}
	if r.Burst <= 0 {
		r.Burst = max(1, int(2*r.PerSecond))
	}
	return r
}

// bucket is one token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// take refills b for the time since its last use and takes one token if
// there is one.
func (b *bucket) take(r Rate, now time.Time) bool {
	if r.PerSecond < 0 {
		return true
	}
	b.fill(r, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) fill(r Rate, now time.Time) {
	if b.last.IsZero() {
		b.tokens = float64(r.Burst)
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(r.Burst), b.tokens+d.Seconds()*r.PerSecond)
	}
	b.last = now
}

// full reports whether b would be full at now: forgetting it changes
// nothing.
func (b *bucket) full(r Rate, now time.Time) bool {
	return b.tokens+now.Sub(b.last).Seconds()*r.PerSecond >= float64(r.Burst)
}

// limit result of answerLimiter.allow.
const (
	allowed = iota
	limitedSource
	limitedGlobal
)

// answerLimiter limits answers per source address and in all, with a hard
// cap on the sources it tracks. It is used by one goroutine at a time.
type answerLimiter struct {
	source, global Rate
	g              bucket
	sources        map[netip.Addr]*bucket
	max            int
	swept          time.Time // last sweep of a full table
}

func newAnswerLimiter(source, global Rate, max int) *answerLimiter {
	return &answerLimiter{source: source, global: global, sources: make(map[netip.Addr]*bucket), max: max}
}

// allow decides whether an answer to src may go out at now. When the
// table of sources is full, the sources whose buckets have refilled are
// forgotten (at most every sweepInterval, so a flood of new sources does
// not cost a sweep each); if none has, a new source is refused
// (limitedSource) until one has: under a flood from more sources than the
// cap, the global limit holds anyway.
func (l *answerLimiter) allow(src netip.Addr, now time.Time) int {
	if l.source.PerSecond >= 0 {
		src = src.WithZone("")
		b := l.sources[src]
		if b == nil {
			if len(l.sources) >= l.max && now.Sub(l.swept) >= sweepInterval {
				l.swept = now
				for k, v := range l.sources {
					if v.full(l.source, now) {
						delete(l.sources, k)
					}
				}
			}
			if len(l.sources) >= l.max {
				return limitedSource
			}
			b = &bucket{}
			l.sources[src] = b
		}
		if !b.take(l.source, now) {
			return limitedSource
		}
	}
	if !l.g.take(l.global, now) {
		return limitedGlobal
	}
	return allowed
}
