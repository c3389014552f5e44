package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/client/clienttest"
	"github.com/udpkit/udpkit/wire"
)

// testWait bounds every wait in these tests; reaching it is a failure, not
// a timing assertion.
const testWait = 30 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

func startResponder(t *testing.T, addr string, b clienttest.Behavior) *clienttest.Responder {
	t.Helper()
	return clienttest.StartT(t, addr, b)
}

func dial(t *testing.T, addr string, cfg Config) *Client {
	t.Helper()
	c, err := Dial(testContext(t), addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedPort returns an address on which a socket existed a moment ago.
func closedPort(t *testing.T, network, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	a := pc.LocalAddr().String()
	pc.Close()
	return a
}

var loopbacks = []string{"127.0.0.1:0", "[::1]:0"}

func TestSendAcked(t *testing.T) {
	for _, addr := range loopbacks {
		t.Run(addr, func(t *testing.T) {
			r := startResponder(t, addr, clienttest.Behavior{})
			c := dial(t, r.Addr(), Config{})
			res, err := c.Send(testContext(t), []byte("hello"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Attempts != 1 || res.RTT <= 0 || res.Elapsed < res.RTT {
				t.Errorf("result %+v, want 1 attempt and a positive RTT", res)
			}
			if got := r.Handled(); len(got) != 1 || string(got[0]) != "hello" {
				t.Errorf("responder handled %q", got)
			}
			if !c.rtt.hasSample() {
				t.Error("no RTT sample after an unambiguous exchange")
			}
			if got, want := c.RemoteAddr().String(), r.Addr(); got != want {
				t.Errorf("RemoteAddr %s, want %s", got, want)
			}
		})
	}
}

func TestSendRetransmitsThenAcked(t *testing.T) {
	r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{DropFirst: 1})
	// 200 ms: with 5 ms a loaded machine answered the second copy late
	// and a third went out.
	c := dial(t, r.Addr(), Config{InitialTimeout: 200 * time.Millisecond})
	res, err := c.Send(testContext(t), []byte("again"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Errorf("Attempts = %d, want 2", res.Attempts)
	}
	if n := r.Copies(res.ID); n != 2 {
		t.Errorf("responder saw %d copies, want 2", n)
	}
	if c.rtt.hasSample() {
		t.Error("RTT sampled from a retransmitted message (Karn's algorithm forbids it)")
	}
	if s := c.Stats(); s.Retransmitted != 1 || s.Sent != 2 {
		t.Errorf("stats %+v, want 2 sent, 1 retransmitted", s)
	}
}

func TestSendTimesOut(t *testing.T) {
	tests := []struct {
		retries      int
		wantAttempts int
	}{
		{retries: 3, wantAttempts: 4},
		{retries: -1, wantAttempts: 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.retries), func(t *testing.T) {
			r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{Silent: true})
			c := dial(t, r.Addr(), Config{InitialTimeout: 5 * time.Millisecond, Retries: tt.retries})
			res, err := c.Send(testContext(t), []byte("anyone?"))
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			want := fmt.Sprintf("timed out after %d attempts over ", tt.wantAttempts)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
			if res.Attempts != tt.wantAttempts {
				t.Errorf("Attempts = %d, want %d", res.Attempts, tt.wantAttempts)
			}
		})
	}
}

func TestSendRefused(t *testing.T) {
	for _, tt := range []struct{ network, addr string }{{"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}} {
		t.Run(tt.network, func(t *testing.T) {
			addr := closedPort(t, tt.network, tt.addr)
			// Timeouts so long that only the ICMP error can end Send
			// before the test's context does.
			c := dial(t, addr, Config{InitialTimeout: time.Hour, MaxTimeout: time.Hour})
			_, err := c.Send(testContext(t), []byte("hello?"))
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v, want ErrRefused", err)
			}
			want := "connection refused: nothing listening on " + addr + " (ICMP port unreachable)"
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			// And again: the next message is refused too.
			if _, err := c.Send(testContext(t), []byte("still?")); !errors.Is(err, ErrRefused) {
				t.Errorf("second send: err = %v, want ErrRefused", err)
			}
		})
	}
}

func TestSendRejected(t *testing.T) {
	r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{Nack: wire.CodeRejected, NackReason: "not for me"})
	c := dial(t, r.Addr(), Config{})
	res, err := c.Send(testContext(t), []byte("a message long enough for the reason"))
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
	var re *RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("err %T is not a *RejectedError", err)
	}
	if re.Code != wire.CodeRejected || re.Reason != "not for me" || re.ID != res.ID {
		t.Errorf("got %+v", re)
	}
	if got, want := err.Error(), "rejected by server: rejected: not for me"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if res.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1 (a NACK is final)", res.Attempts)
	}
}

func TestSendTooLarge(t *testing.T) {
	tests := []struct {
		max, payload int
		ok           bool
	}{
		{0, wire.DefaultMaxDatagram - wire.HeaderLen, true},
		{0, wire.DefaultMaxDatagram - wire.HeaderLen + 1, false},
		{100, 84, true},
		{100, 85, false},
	}
	r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{})
	for _, tt := range tests {
		c := dial(t, r.Addr(), Config{MaxDatagram: tt.max})
		_, err := c.Send(testContext(t), make([]byte, tt.payload))
		if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, ErrTooLarge)) {
			t.Errorf("max %d, payload %d: err = %v", tt.max, tt.payload, err)
		}
		if !tt.ok && c.Stats().Sent != 0 {
			t.Errorf("max %d, payload %d: sent something", tt.max, tt.payload)
		}
	}
}

func TestDuplicateRepliesIgnored(t *testing.T) {
	r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{Extra: 3, Garbage: true})
	// Timeouts long enough that only a reply could provoke a resend.
	c := dial(t, r.Addr(), Config{InitialTimeout: time.Hour, MaxTimeout: time.Hour})
	ctx := testContext(t)
	const n = 20
	for i := range n {
		if _, err := c.Send(ctx, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// The PONGs come after every earlier reply (one socket, one reader, in
	// order): once the last of the 1+Extra PONG copies the responder sends
	// has reached fn, every ACK copy and every garbage datagram before it
	// has been counted. StartPing keeps the PING's record, so no PONG copy
	// is counted as unmatched (Ping forgets it on return, racing the
	// reader).
	pongs := make(chan Pong, 4)
	if _, err := c.StartPing(nil, func(p Pong) { pongs <- p }); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		select {
		case p := <-pongs:
			if p.Err != nil || p.Dup != (i > 0) {
				t.Fatalf("PONG %d: %+v, want Dup %v and no error", i+1, p, i > 0)
			}
		case <-ctx.Done():
			t.Fatalf("got %d of the 4 PONG copies: %v", i, ctx.Err())
		}
	}
	if got := r.Datagrams(); got != n+1 {
		t.Errorf("responder got %d datagrams, want %d: duplicates provoked resends", got, n+1)
	}
	s := c.Stats()
	if s.Unmatched != 3*n {
		t.Errorf("Unmatched = %d, want %d", s.Unmatched, 3*n)
	}
	if s.Malformed != 4*(n+1) {
		t.Errorf("Malformed = %d, want %d", s.Malformed, 4*(n+1))
	}
}

func TestSendAllLossy(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the lossy run in short mode")
	}
	for _, addr := range loopbacks {
		t.Run(addr, func(t *testing.T) {
			r := startResponder(t, addr, clienttest.Behavior{DropIn: 0.3, DropOut: 0.3})
			c := dial(t, r.Addr(), Config{
				InitialTimeout: 5 * time.Millisecond,
				MinTimeout:     2 * time.Millisecond,
				MaxTimeout:     50 * time.Millisecond,
				Retries:        40,
				Window:         16,
			})
			const n = 500
			payloads := make([][]byte, n)
			for i := range payloads {
				payloads[i] = fmt.Appendf(nil, "reading %03d", i)
			}
			got := make([]int, n)
			var failures []error
			err := c.SendAll(testContext(t), slices.Values(payloads), func(i int, res Result, err error) {
				got[i]++
				if err != nil {
					failures = append(failures, fmt.Errorf("%d: %w", i, err))
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(failures) > 0 {
				t.Fatalf("%d failures, first %v", len(failures), failures[0])
			}
			for i, k := range got {
				if k != 1 {
					t.Fatalf("payload %d reported %d times", i, k)
				}
			}
			handled := r.Handled()
			if len(handled) != n {
				t.Fatalf("responder handled %d messages, want %d", len(handled), n)
			}
			slices.SortFunc(handled, bytes.Compare)
			for i := range handled {
				if !bytes.Equal(handled[i], payloads[i]) {
					t.Fatalf("handled[%d] = %q, want %q", i, handled[i], payloads[i])
				}
			}
			t.Logf("stats %+v", c.Stats())
		})
	}
}

func TestSendAllRefused(t *testing.T) {
	addr := closedPort(t, "udp4", "127.0.0.1:0")
	c := dial(t, addr, Config{InitialTimeout: time.Hour, MaxTimeout: time.Hour})
	var mu sync.Mutex
	reported := 0
	err := c.SendAll(testContext(t), slices.Values(make([][]byte, 100)), func(i int, r Result, err error) {
		mu.Lock()
		defer mu.Unlock()
		reported++
		if !errors.Is(err, ErrRefused) {
			t.Errorf("%d: err = %v, want ErrRefused", i, err)
		}
	})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("SendAll: err = %v, want ErrRefused", err)
	}
	if reported == 0 || reported == 100 {
		t.Errorf("%d outcomes reported; want the ones in flight only", reported)
	}
}

func TestSendAllMixed(t *testing.T) {
	r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{})
	c := dial(t, r.Addr(), Config{MaxDatagram: 20})
	payloads := [][]byte{[]byte("ok"), []byte("far too large"), []byte("ok2")}
	errs := make([]error, len(payloads))
	if err := c.SendAll(testContext(t), slices.Values(payloads), func(i int, _ Result, err error) { errs[i] = err }); err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], ErrTooLarge) {
		t.Errorf("errors %v, want nil, ErrTooLarge, nil", errs)
	}
}

func TestContextCancel(t *testing.T) {
	r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{Silent: true})
	c := dial(t, r.Addr(), Config{InitialTimeout: time.Hour, MaxTimeout: time.Hour})

	t.Run("Send", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(testContext(t), 20*time.Millisecond)
		defer cancel()
		_, err := c.Send(ctx, []byte("x"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("SendAll", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(testContext(t), 20*time.Millisecond)
		defer cancel()
		var reported []error
		err := c.SendAll(ctx, slices.Values(make([][]byte, 10)), func(i int, _ Result, err error) {
			reported = append(reported, err)
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if len(reported) != 1 || !errors.Is(reported[0], context.DeadlineExceeded) {
			t.Errorf("reported %v; want the one message in flight", reported)
		}
	})
	t.Run("Ping", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(testContext(t), 20*time.Millisecond)
		defer cancel()
		if _, err := c.Ping(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestCloseUnblocks(t *testing.T) {
	r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{Silent: true})
	c, err := Dial(testContext(t), r.Addr(), Config{InitialTimeout: time.Hour, MaxTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Send(testContext(t), []byte("x"))
		errc <- err
	}()
	// Close once the message is on its way.
	for r.Datagrams() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("err = %v, want net.ErrClosed", err)
		}
	case <-time.After(testWait):
		t.Fatal("Send did not return after Close")
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Send(testContext(t), nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
}

func TestPing(t *testing.T) {
	for _, addr := range loopbacks {
		t.Run(addr, func(t *testing.T) {
			r := startResponder(t, addr, clienttest.Behavior{})
			c := dial(t, r.Addr(), Config{})
			p, err := c.Ping(testContext(t), make([]byte, 56))
			if err != nil {
				t.Fatal(err)
			}
			if p.Size != 72 || p.RTT <= 0 || p.Dup {
				t.Errorf("pong %+v, want 72 bytes, positive RTT", p)
			}
		})
	}
}

func TestStartPingDuplicates(t *testing.T) {
	r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{Extra: 1})
	c := dial(t, r.Addr(), Config{})
	got := make(chan Pong, 4)
	id, err := c.StartPing([]byte("abc"), func(p Pong) { got <- p })
	if err != nil {
		t.Fatal(err)
	}
	for i, wantDup := range []bool{false, true} {
		select {
		case p := <-got:
			if p.ID != id || p.Dup != wantDup || p.Err != nil || p.Size != 19 {
				t.Errorf("pong %d: %+v", i, p)
			}
		case <-time.After(testWait):
			t.Fatal("no pong")
		}
	}
}

func TestPingRefused(t *testing.T) {
	addr := closedPort(t, "udp4", "127.0.0.1:0")
	c := dial(t, addr, Config{})
	for i := range 3 {
		got := make(chan Pong, 1)
		if _, err := c.StartPing(nil, func(p Pong) { got <- p }); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-got:
			if !errors.Is(p.Err, ErrRefused) {
				t.Errorf("ping %d: %+v, want ErrRefused", i, p)
			}
		case <-time.After(testWait):
			t.Fatal("no refusal")
		}
	}
}

func TestDialBadAddress(t *testing.T) {
	tests := []struct{ addr, why string }{
		{"foo", "no port"},
		{"127.0.0.1", "no port"},
		{"::1", "IPv6 addresses need brackets"},
		{"::1:9797", "IPv6 addresses need brackets"},
		{"127.0.0.1:0", "not a number from 1 to 65535"},
		{"127.0.0.1:99999", "not a number from 1 to 65535"},
		{"127.0.0.1:http", "not a number"},
		{":9797", "no host"},
	}
	for _, tt := range tests {
		_, err := Dial(testContext(t), tt.addr, Config{})
		if err == nil {
			t.Errorf("Dial(%q) succeeded", tt.addr)
			continue
		}
		msg := err.Error()
		for _, want := range []string{fmt.Sprintf("bad address %q", tt.addr), tt.why, "want HOST:PORT, e.g. 127.0.0.1:9797 or [::1]:9797"} {
			if !strings.Contains(msg, want) {
				t.Errorf("Dial(%q): %q lacks %q", tt.addr, msg, want)
			}
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	var cfg Config
	got := cfg.resolve()
	if got.initial != 200*time.Millisecond || got.max != 4*time.Second || got.retries != 5 ||
		got.window != 8 || got.maxDatagram != 1472 || got.min != 50*time.Millisecond || got.lifetime != 120*time.Second {
		t.Errorf("defaults %+v", got)
	}
	if cfg.InitialTimeout != 0 || cfg.Retries != 0 || cfg.Window != 0 || cfg.MaxDatagram != 0 {
		t.Error("resolve wrote into the caller's Config")
	}
	small := (Config{InitialTimeout: 5 * time.Millisecond, Retries: -3, MaxTimeout: time.Hour}).resolve()
	if small.min != 5*time.Millisecond || small.retries != 0 || small.max != ExchangeLifetime {
		t.Errorf("resolved %+v", small)
	}
}
