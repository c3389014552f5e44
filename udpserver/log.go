package udpserver

import (
	"context"
	"log/slog"

	"github.com/udpkit/udpkit/internal/readloop"
)

// Logs about single datagrams ("should never happen" failures, malformed
// input at debug level) are rate-limited with internal/readloop's budget
// (readloop.LogBurst lines, then one per readloop.LogInterval), so that a
// flood of bad datagrams or a failing route cannot flood the log; the next
// line that passes carries the number suppressed meanwhile. Counters
// (Stats) stay exact.

// logLimiter is readloop's token bucket for one kind of log line.
type logLimiter = readloop.LogLimiter

// logBurst is how many lines of one kind pass at once.
const logBurst = readloop.LogBurst

// logLimited logs msg at level through l's budget, adding the count of
// suppressed lines when there were some. Callers on the per-datagram path
// check s.log.Enabled first so that building args costs nothing when the
// level is off.
func (s *Server) logLimited(l *logLimiter, level slog.Level, msg string, args ...any) {
	ok, suppressed := l.Allow(s.now())
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	s.log.Log(context.Background(), level, msg, args...)
}
