package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/udpkit/udpkit/udpserver"
)

// realServer runs a udpserver.Server on loopback; it returns its address
// and how often each payload was handled.
func realServer(t *testing.T, srv *udpserver.Server) (string, func() map[string]int) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]int{}
	srv.Handler = udpserver.HandlerFunc(func(_ context.Context, q *udpserver.Request) error {
		mu.Lock()
		seen[string(q.Payload)]++
		mu.Unlock()
		return nil
	})
	pc, err := udpserver.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(pc)
	t.Cleanup(func() { srv.Close() })
	return pc.LocalAddr().(*net.UDPAddr).String(), func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// NACK "rate limited" means "slow down, try again later": udpcli send
// retries those lines, same ID, and every line is acknowledged and
// handled once (the stranger's `seq 10000` against a default server, scaled
// to a lower limit so the test is quick).
func TestSendRateLimitedRetried(t *testing.T) {
	addr, handled := realServer(t, &udpserver.Server{RateLimit: 500, RateBurst: 100})
	const n = 1500
	out, errOut, code := runCLI(t, numberedLines(n), "send", "-w", "1024", addr)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q; failed lines:\n%s", code, errOut, grepLines(out, "failed"))
	}
	if !strings.Contains(errOut, "1500 lines: 1500 acknowledged, 0 failed") || !strings.Contains(errOut, "NACK rate limited retried") {
		t.Errorf("summary %q", errOut)
	}
	got := handled()
	if len(got) != n {
		t.Errorf("%d lines handled, want %d", len(got), n)
	}
	for p, k := range got {
		if k != 1 {
			t.Errorf("%q handled %d times", p, k)
		}
	}
}

// Lines past the sender's exactly-once share fail on NACK busy once the
// retries run out; each says why, and one hint on stderr says what to do.
func TestSendShareFullHint(t *testing.T) {
	addr, handled := realServer(t, &udpserver.Server{DedupPerSource: 100})
	long := strings.Repeat("a line long enough for the NACK's text ", 2)
	var in strings.Builder
	for i := range 150 {
		fmt.Fprintf(&in, "%s%d\n", long, i)
	}
	out, errOut, code := runCLI(t, in.String(), "send", "--retries", "1", "-t", "0.3", addr)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, errOut)
	}
	if !strings.Contains(errOut, "150 lines: 100 acknowledged, 50 failed") {
		t.Errorf("summary %q", errOut)
	}
	if n := strings.Count(errOut, "hint:"); n != 1 || !strings.Contains(errOut, "--dedup-per-source") || !strings.Contains(errOut, "per-sender exactly-once share is full") {
		t.Errorf("want one hint naming the share and --dedup-per-source, stderr %q", errOut)
	}
	failed := grepLines(out, "failed:")
	if strings.Count(failed, "\n") != 50 || !strings.Contains(failed, "per-sender exactly-once share is full after 2 tries") {
		t.Errorf("failed lines:\n%s", failed)
	}
	if len(handled()) != 100 {
		t.Errorf("%d handled, want 100", len(handled()))
	}

	// Short lines: the NACK has no room for its text; the hint still says
	// what it most likely is.
	addr, _ = realServer(t, &udpserver.Server{DedupPerSource: 3})
	_, errOut, code = runCLI(t, "1\n2\n3\n4\n5\n", "send", "--retries", "1", "-t", "0.3", addr)
	if code != 1 || !strings.Contains(errOut, "5 lines: 3 acknowledged, 2 failed") ||
		!strings.Contains(errOut, "hint: 2 lines failed on NACK busy without a reason") || !strings.Contains(errOut, "--dedup-per-source") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func grepLines(s, sub string) string {
	var b strings.Builder
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			b.WriteString(l)
		}
	}
	return b.String()
}
