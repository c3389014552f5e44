package client

import (
	"context"
	"errors"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/client/clienttest"
	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"
)

// startServer runs a real udpserver.Server on loopback that counts each
// handled payload; it returns the address and the counts.
func startServer(t *testing.T, srv *udpserver.Server) (string, func() map[string]int) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]int{}
	if srv.Handler == nil {
		srv.Handler = udpserver.HandlerFunc(func(_ context.Context, q *udpserver.Request) error {
			mu.Lock()
			seen[string(q.Payload)]++
			mu.Unlock()
			return nil
		})
	}
	pc, err := udpserver.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(pc)
	t.Cleanup(func() { srv.Close() })
	return pc.LocalAddr().(*net.UDPAddr).String(), func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(seen)
	}
}

// A server that rate-limits the sender: SendAll slows down and retries the
// messages that got NACK "rate limited", with the same ID, and every one
// is acknowledged and handled once.
func TestSendAllRateLimitedRetried(t *testing.T) {
	addr, handled := startServer(t, &udpserver.Server{RateLimit: 400, RateBurst: 40})
	c := dial(t, addr, Config{Window: 256, Retries: 8, InitialTimeout: 50 * time.Millisecond})
	const n = 600
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = []byte("message " + strconv.Itoa(i))
	}
	var limited, failed int
	err := c.SendAll(testContext(t), slices.Values(payloads), func(i int, r Result, err error) {
		limited += r.RateLimited
		if err != nil {
			failed++
			t.Errorf("message %d: %v", i, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if limited == 0 {
		t.Error("no NACK rate limited was retried: the test did not exercise the limiter")
	}
	got := handled()
	if len(got) != n {
		t.Errorf("%d messages handled, want %d", len(got), n)
	}
	for p, k := range got {
		if k != 1 {
			t.Errorf("%q handled %d times", p, k)
		}
	}
	t.Logf("%d NACK rate limited retried, %d failed", limited, failed)
}

// A NACK rate limited on every try: Send retries within its budget, then
// fails with an error that says so.
func TestSendRateLimitedBudget(t *testing.T) {
	r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{Nack: wire.CodeRateLimited})
	c := dial(t, r.Addr(), Config{Retries: 2, InitialTimeout: 200 * time.Millisecond, MinTimeout: 200 * time.Millisecond})
	res, err := c.Send(testContext(t), []byte("x"))
	var re *RejectedError
	if !errors.As(err, &re) || re.Code != wire.CodeRateLimited {
		t.Fatalf("err = %v, want a NACK rate limited", err)
	}
	if res.Attempts != 3 || res.RateLimited != 2 || re.Attempts != 3 {
		t.Errorf("Attempts %d, RateLimited %d, error's Attempts %d; want 3, 2, 3", res.Attempts, res.RateLimited, re.Attempts)
	}
	if want := "rate limited by the server after 3 tries"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// A sender past its de-duplication share: the server's NACK busy says
// which share is full when it fits in the reply, and the client's error
// explains it after its retries.
func TestSendShareFull(t *testing.T) {
	addr, _ := startServer(t, &udpserver.Server{DedupPerSource: 2})
	c := dial(t, addr, Config{Retries: 1, InitialTimeout: 200 * time.Millisecond, MinTimeout: 200 * time.Millisecond})
	long := []byte("a payload long enough for the reason text")
	for range 2 {
		if _, err := c.Send(testContext(t), long); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Send(testContext(t), long)
	var re *RejectedError
	if !errors.As(err, &re) || re.Code != wire.CodeBusy || re.Reason != wire.ReasonSenderShareFull {
		t.Fatalf("err = %v, want NACK busy %q", err, wire.ReasonSenderShareFull)
	}
	if res.Busy != 1 || res.Attempts != 2 {
		t.Errorf("Busy %d, Attempts %d; want 1, 2", res.Busy, res.Attempts)
	}
	for _, want := range []string{"per-sender exactly-once share is full after 2 tries", "--dedup-per-source"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// A reply is never longer than its request: a short DATA gets the code
	// alone, and the client still explains what busy may mean.
	_, err = c.Send(testContext(t), []byte("x"))
	if !errors.As(err, &re) || re.Code != wire.CodeBusy || re.Reason != "" {
		t.Fatalf("err = %v, want NACK busy without text", err)
	}
	if !strings.Contains(err.Error(), "exactly-once share") {
		t.Errorf("error %q does not mention the share", err)
	}
}
