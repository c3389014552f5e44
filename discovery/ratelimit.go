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
	// DefaultSourceRate limits the answers to one source address and
	// port.
	DefaultSourceRate = Rate{PerSecond: 20, Burst: 40}
	// DefaultGlobalRate limits an Announcer's answers in all (to full-size
	// queries: ten times as much beyond it, reserveFactor).
	DefaultGlobalRate = Rate{PerSecond: 200, Burst: 400}
)

// Why the per-source limit is keyed by address and port (SECURITY.md,
// "Spoofed queries"): keyed by address alone, a forger that sends queries
// with a browser's address as their source uses up the browser's answers
// before the browser asks, and the browser hears only the forger's
// ANSWERs. A browser asks from a fresh ephemeral port; the forger learns it
// from the browser's first query, which the server has answered by then
// (at once, without delay), so the forger loses the race. There is no
// per-address cap above the per-port one: it is what the forger would
// exhaust (with the browser's address and made-up ports), and it is not
// needed for reflection, since every answer is at most its query's bytes
// (both copies together, PROTOCOL.md 6.4) and the global limit bounds the
// rate to all addresses.
//
// The global limit cannot be keyed: spoofed queries from made-up
// addresses and ports look like browsers' first queries. A flood of small
// ones (an answer needs a query of about 100 bytes) would exhaust 200 a
// second for 20 kB/s. So answers to full-size queries (reserveQuerySize,
// as browsers send: 1472 bytes, 1452 IPv6) have a reserve of
// reserveFactor times the global limit beyond it: to deny them a forger
// must send more than 2200 large queries a second (2.3 MB/s by default),
// and the answers still stay at most the queries' bytes.
const (
	reserveQuerySize = 1024
	reserveFactor    = 10
)

// maxSources is the hard cap on the source addresses and ports an
// Announcer tracks for its per-source answer limit.
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
	reserved // allowed beyond the global limit, from the full-size queries' reserve
)

// answerLimiter limits answers per source address and port and in all,
// with a hard cap on the sources it tracks. It is used by one goroutine at
// a time.
type answerLimiter struct {
	source, global, reserve Rate
	g, r                    bucket
	sources                 map[netip.AddrPort]*bucket
	max                     int
	swept                   time.Time // last sweep of a full table
}

func newAnswerLimiter(source, global Rate, max int) *answerLimiter {
	reserve := Rate{PerSecond: reserveFactor * global.PerSecond, Burst: reserveFactor * global.Burst}
	return &answerLimiter{source: source, global: global, reserve: reserve, sources: make(map[netip.AddrPort]*bucket), max: max}
}

// allow decides whether an answer to a query of size bytes from src may
// go out at now. When the table of sources is full, the sources whose
// buckets have refilled are forgotten (at most every sweepInterval, so a
// flood of new sources does not cost a sweep each); if none has, an
// arbitrary one is (map order): a flood of made-up sources must not lock
// out a browser's new port, and a forgotten source that comes back starts
// with a full bucket, which only helps a browser whose port a forger
// floods. The global limit holds anyway.
func (l *answerLimiter) allow(src netip.AddrPort, size int, now time.Time) int {
	if l.source.PerSecond >= 0 {
		src = netip.AddrPortFrom(src.Addr().WithZone(""), src.Port())
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
				for k := range l.sources { // an arbitrary one
					delete(l.sources, k)
					break
				}
			}
			b = &bucket{}
			l.sources[src] = b
		}
		if !b.take(l.source, now) {
			return limitedSource
		}
	}
	if l.g.take(l.global, now) {
		return allowed
	}
	if size >= reserveQuerySize && l.r.take(l.reserve, now) {
		return reserved
	}
	return limitedGlobal
}
