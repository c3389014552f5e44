package readloop

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Back-off bounds: the first pause after a failed read and the longest.
const (
	MinBackoff = 5 * time.Millisecond
	MaxBackoff = time.Second
)

// Log limits: a kind of log line may burst LogBurst lines, then one per
// LogInterval.
const (
	LogBurst    = 5
	LogInterval = time.Second
)

// Backoff is how long a loop waits after a failed read: it doubles from
// MinBackoff to MaxBackoff while reads keep failing. The zero value is
// ready; Reset after a successful read.
type Backoff time.Duration

// Next returns the next pause and remembers it.
func (b *Backoff) Next() time.Duration {
	*b = Backoff(min(max(2*time.Duration(*b), MinBackoff), MaxBackoff))
	return time.Duration(*b)
}

// Reset starts over from MinBackoff.
func (b *Backoff) Reset() { *b = 0 }

// LogLimiter is a token bucket for one kind of log line. The zero value
// is ready and safe for concurrent use.
type LogLimiter struct {
	mu         sync.Mutex
	tokens     int64 // available lines
	last       int64 // clock of the last refill, ns
	started    bool
	suppressed uint64
}

// Allow reports whether a line may be logged at time now (nanoseconds on
// any monotonic clock), and how many lines were suppressed since the last
// one that was.
func (l *LogLimiter) Allow(now int64) (ok bool, suppressed uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started {
		l.started, l.tokens, l.last = true, LogBurst, now
	}
	if add := (now - l.last) / int64(LogInterval); add > 0 {
		l.tokens = min(LogBurst, l.tokens+add)
		l.last += add * int64(LogInterval)
	}
	if l.tokens == 0 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// Log logs msg at level on log when the budget allows, adding the count of
// lines suppressed meanwhile.
func (l *LogLimiter) Log(log *slog.Logger, level slog.Level, msg string, args ...any) {
	ok, suppressed := l.Allow(monotonic())
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	log.Log(context.Background(), level, msg, args...)
}

var epoch = time.Now()

func monotonic() int64 { return int64(time.Since(epoch)) }

// Failures is the state of one read loop's error handling: its back-off
// and the budget of its warnings. The zero value is ready.
type Failures struct {
	backoff Backoff
	log     LogLimiter
}

// Failed handles a failed read: it logs err at Warn on log within the
// budget (with the pause), then waits out the back-off. It returns false
// when done closed meanwhile (the loop should end).
func (f *Failures) Failed(done <-chan struct{}, log *slog.Logger, msg string, err error, args ...any) bool {
	d := f.backoff.Next()
	f.log.Log(log, slog.LevelWarn, msg, append(args, "err", err, "backoff", d)...)
	return Pause(done, d)
}

// Succeeded resets the back-off after a successful read.
func (f *Failures) Succeeded() { f.backoff.Reset() }

// Deadliner is a socket whose reads take a deadline.
type Deadliner interface {
	SetReadDeadline(t time.Time) error
}

// Wake arranges for ctx's end to wake a read blocked on c, by setting a
// read deadline in the past. Call the returned stop when the read is over:
// it cancels the arrangement or, when ctx already ended, waits until the
// wake-up has run, and then sets the read deadline to restore (zero: none).
// Every ended read thus leaves the socket with the restore deadline.
func Wake(ctx context.Context, c Deadliner, restore time.Time) (stop func()) {
	woken := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() {
		defer close(woken)
		if TestHookWake != nil {
			TestHookWake()
		}
		c.SetReadDeadline(time.Unix(1, 0))
	})
	return func() {
		if !stopAfter() {
			<-woken
		}
		c.SetReadDeadline(restore)
	}
}

// TestHookWake, for tests only, runs in the wake-up before it sets the
// deadline: tests delay it to widen the race Wake guards against.
var TestHookWake func()

// Pause waits d, or until done closes; it reports whether the whole pause
// passed (false: the loop should end).
func Pause(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
