package readloop

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestBackoffDoublesAndCaps(t *testing.T) {
	var b Backoff
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i, w := range want {
		if got := b.Next(); got != w*time.Millisecond {
			t.Fatalf("step %d: %v, want %v", i, got, w*time.Millisecond)
		}
	}
	b.Reset()
	if got := b.Next(); got != MinBackoff {
		t.Errorf("after Reset: %v", got)
	}
}

func TestLogLimiterBurstThenOnePerInterval(t *testing.T) {
	var l LogLimiter
	for i := range LogBurst {
		if ok, _ := l.Allow(0); !ok {
			t.Fatalf("line %d of the burst refused", i)
		}
	}
	for range 7 {
		if ok, _ := l.Allow(int64(time.Millisecond)); ok {
			t.Fatal("line beyond the burst allowed")
		}
	}
	ok, suppressed := l.Allow(int64(LogInterval))
	if !ok || suppressed != 7 {
		t.Errorf("after an interval: %v, suppressed %d, want 7", ok, suppressed)
	}
}

// A loop over a failing read warns a few times, not at every failure,
// and stops backing off as soon as done closes.
func TestFailuresBoundLogsAndStop(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	var f Failures
	done := make(chan struct{})
	start := time.Now()
	for range 8 { // 5+10+20+40+80+160+320+640 ms would be 1.3 s of back-off
		if time.Since(start) > 300*time.Millisecond {
			close(done)
			break
		}
		f.Failed(done, log, "read failed", errors.New("boom"))
	}
	if f.Failed(done, log, "read failed", errors.New("boom")) {
		t.Error("Failed did not report that done closed")
	}
	if n := strings.Count(out.String(), "read failed"); n > LogBurst {
		t.Errorf("%d warnings logged, at most %d", n, LogBurst)
	}
}

// Wake ends a blocked read when ctx ends, and every ended read leaves the
// socket with the restore deadline even when ctx ends after the read
// returned and its wake-up runs late (the race it exists for).
func TestWake(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	stop := Wake(ctx, c, time.Time{})
	_, _, err = c.ReadFrom(make([]byte, 8))
	stop()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blocked read ended with %v", err)
	}

	TestHookWake = func() { time.Sleep(50 * time.Millisecond) }
	defer func() { TestHookWake = nil }()
	ctx, cancel = context.WithCancel(context.Background())
	stop = Wake(ctx, c, time.Time{})
	cancel() // ends after the read "returned", before stop
	stop()
	if _, err := c.WriteTo([]byte("x"), c.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadFrom(make([]byte, 8)); err != nil {
		t.Fatalf("read after a late wake-up: %v", err)
	}
}
