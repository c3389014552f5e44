package udpserver

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Logs about single datagrams ("should never happen" failures, malformed
// input at debug level) are rate-limited, so that a flood of bad datagrams
// or a failing route cannot flood the log: each kind of message may burst
// logBurst lines, then one per logInterval; the next line that passes
// carries the number suppressed meanwhile. Counters (Stats) stay exact.
const (
	logBurst    = 5
	logInterval = time.Second
)

// logLimiter is a token bucket for one kind of log line.
type logLimiter struct {
	mu         sync.Mutex
	tokens     int64 // available lines
	last       int64 // server clock of the last refill, ns
	started    bool
	suppressed uint64
}

// allow reports whether a line may be logged at time now, and how many
// lines were suppressed since the last one that was.
func (l *logLimiter) allow(now int64) (ok bool, suppressed uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started {
		l.started, l.tokens, l.last = true, logBurst, now
	}
	if add := (now - l.last) / int64(logInterval); add > 0 {
		l.tokens = min(logBurst, l.tokens+add)
		l.last += add * int64(logInterval)
	}
	if l.tokens == 0 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// logLimited logs msg at level through l's budget, adding the count of
// suppressed lines when there were some. Callers on the per-datagram path
// check s.log.Enabled first so that building args costs nothing when the
// level is off.
func (s *Server) logLimited(l *logLimiter, level slog.Level, msg string, args ...any) {
	ok, suppressed := l.allow(s.now())
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	s.log.Log(context.Background(), level, msg, args...)
}
