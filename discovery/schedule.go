package discovery

import (
	"math/rand/v2"
	"time"
)

// Timing defaults (PROTOCOL.md section 6.5).
const (
	// DefaultTTL is how long an announcement stays valid.
	DefaultTTL = 120 * time.Second
	// MaxTTL is the longest TTL an announcer accepts: a day, far below the
	// 32-bit seconds of the wire field, and long enough for anything that
	// re-announces every 2/3 of it.
	MaxTTL = 24 * time.Hour
	// DefaultMaxAnswerDelay is the longest random delay before an answer.
	DefaultMaxAnswerDelay = 5 * time.Millisecond
	// DefaultQuerySize is the size browsers pad their queries to: the
	// largest datagram, because the servers that one query reaches share
	// its bytes as their answer budget (PROTOCOL.md 6.4), about 14
	// answers per copy.
	DefaultQuerySize = 1472
	// maxDatagram6 is the largest datagram that fits one 1500-byte
	// Ethernet frame over IPv6 (40-byte header, 8-byte UDP header): IPv6
	// copies of queries are padded to at most this, so that they are not
	// fragmented into two frames for every host.
	maxDatagram6 = 1452
	// MinQuerySize is the smallest query size a browser accepts: room for
	// an answer with a short name and one IPv4 address.
	MinQuerySize = 128
	// maxQueryInterval is the query interval once the front-loaded
	// schedule has run out.
	maxQueryInterval = time.Second
)

// queryOffsets are the times, from the start of a browse, of the first
// query rounds: front-loaded so that losses are repaired within a few
// round trips, then doubling.
var queryOffsets = [...]time.Duration{0, 15 * time.Millisecond, 40 * time.Millisecond, 90 * time.Millisecond,
	190 * time.Millisecond, 390 * time.Millisecond, 790 * time.Millisecond}

// queryOffset returns when query round n (0-based) is due, measured from
// the start of the browse: the front-loaded offsets, then one round a
// second.
func queryOffset(n int) time.Duration {
	if n < len(queryOffsets) {
		return queryOffsets[n]
	}
	return queryOffsets[len(queryOffsets)-1] + time.Duration(n-len(queryOffsets)+1)*maxQueryInterval
}

// burstOffsets are the times, from the start of an announcer, of its first
// announcements.
var burstOffsets = [...]time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond}

// announceDelay returns the wait before announcement n+1 (n is 0-based)
// for an announcer whose TTL is ttl: the start burst, then 2/3 of ttl less
// up to 10% (jitter, so that servers started together drift apart). With
// the default TTL that is one datagram every 72 to 80 s; a watcher that
// misses one asks the server itself before the TTL runs out (watcher.go,
// maintenance queries at 80 to 95% of the TTL, as RFC 6762 section 5.2
// does).
func announceDelay(n int, ttl time.Duration) time.Duration {
	if n+1 < len(burstOffsets) {
		return burstOffsets[n+1] - burstOffsets[n]
	}
	period := ttl * 2 / 3
	return period - time.Duration(rand.Int64N(int64(period/10)+1))
}

// answerDelay returns a random delay in [0, max].
func answerDelay(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(max) + 1))
}
