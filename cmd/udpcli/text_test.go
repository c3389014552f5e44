package main

// The text of send, ping and bench: each message's line, the summaries
// and the hints that name udpserver's flags.

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"
)

// TestSendTallyText adds the outcomes of a run and checks the summary and
// the hint.
func TestSendTallyText(t *testing.T) {
	var tally client.SendTally
	busy := &client.RejectedError{Code: wire.CodeBusy, Reason: wire.ReasonTableFull}
	steps := []struct {
		r   client.Result
		err error
	}{
		{client.Result{Attempts: 1}, nil},
		{client.Result{Attempts: 3, Busy: 2}, nil},
		{client.Result{Attempts: 4, Busy: 4}, busy},
		{client.Result{Attempts: 4, RateLimited: 1}, fmt.Errorf("send: %w", client.ErrTimeout)},
		{client.Result{}, fmt.Errorf("send: %w", client.ErrTooLarge)},
	}
	for _, s := range steps {
		tally.Add(s.r, s.err)
	}
	if got, want := sendSummary(&tally, "line"), "5 lines: 2 acknowledged, 3 failed (1 too long, not sent); 6 NACK busy retried; 1 NACK rate limited retried"; got != want {
		t.Errorf("sendSummary = %q, want %q", got, want)
	}
	if h := busyHint(tally.BusyReasons); !strings.HasPrefix(h, "hint: 1 line failed on NACK busy: the server's exactly-once table is full") {
		t.Errorf("busyHint = %q", h)
	}
	if h := busyHint(nil); h != "" {
		t.Errorf("busyHint of no failure = %q", h)
	}
	var short client.SendTally
	short.Add(client.Result{}, &client.RejectedError{Code: wire.CodeBusy})
	short.Add(client.Result{}, &client.RejectedError{Code: wire.CodeBusy})
	if h := busyHint(short.BusyReasons); !strings.HasPrefix(h, "hint: 2 lines failed on NACK busy without a reason") {
		t.Errorf("busyHint without reasons = %q", h)
	}
}

func TestSendText(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		r    client.Result
		err  error
		want string
	}{
		{client.Result{Attempts: 1, Elapsed: 210 * time.Microsecond}, nil, "acked in 0.210 ms (1 attempt)"},
		{client.Result{Attempts: 3, Elapsed: 1500 * ms, RTT: 2 * ms}, nil, "acked in 1500 ms (3 attempts, last round trip 2.00 ms)"},
		{client.Result{Attempts: 3, Elapsed: 15 * ms, RTT: 2 * ms, Busy: 1, RateLimited: 1}, nil,
			"acked in 15.0 ms (3 attempts, 1 NACK busy, 1 NACK rate limited, last round trip 2.00 ms)"},
		{client.Result{Attempts: 1}, &client.RejectedError{Code: wire.CodeRejected, Reason: "no\nway"}, "rejected (rejected): no way"},
		{client.Result{Attempts: 4, Elapsed: 3100 * ms}, fmt.Errorf("x: %w", client.ErrTimeout), "timed out after 4 attempts (3.1 s)"},
		{client.Result{Attempts: 4, Elapsed: 3100 * ms, Busy: 2}, fmt.Errorf("x: %w", client.ErrTimeout), "timed out after 4 attempts (3.1 s) after 2 NACK busy"},
		{client.Result{}, client.ErrTooLarge, "error: " + client.ErrTooLarge.Error()},
	}
	for _, tt := range tests {
		if got := sendText(client.ServiceResult{Result: tt.r}, tt.err); got != tt.want {
			t.Errorf("sendText(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	busy := sendText(client.ServiceResult{}, &client.RejectedError{Code: wire.CodeBusy, Reason: wire.ReasonNotStored, Attempts: 4})
	if !strings.HasPrefix(busy, "failed: the server's storage did not confirm the message after 4 tries") || !strings.HasSuffix(busy, "["+wire.ReasonNotStored+"]") {
		t.Errorf("busy sendText = %q", busy)
	}
	via := client.ServiceResult{Result: client.Result{Attempts: 1, Elapsed: 2 * ms}, Server: "b", Failovers: 1}
	if got, want := sendText(via, nil), "acked by b in 2.00 ms (1 attempt) after 1 failover"; got != want {
		t.Errorf("sendText with --service = %q, want %q", got, want)
	}
}

func TestPongLine(t *testing.T) {
	us := time.Microsecond
	tests := []struct {
		p    client.Pong
		want string
	}{
		{client.Pong{Size: 72, RTT: 123 * us}, "72 bytes from 127.0.0.1:9797: seq=1 time=0.123 ms"},
		{client.Pong{Size: 72, RTT: 12345 * us, Dup: true}, "72 bytes from 127.0.0.1:9797: seq=1 time=12.3 ms (DUP!)"},
		{client.Pong{Err: client.ErrRefused}, "From 127.0.0.1:9797 seq=1 Destination Port Unreachable"},
		{client.Pong{Err: fmt.Errorf("read: %w", client.ErrUnreachable)}, "From 127.0.0.1:9797 seq=1 Destination Host Unreachable"},
	}
	for _, tt := range tests {
		if got := pongLine(1, "127.0.0.1:9797", tt.p); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

func TestPingStatsText(t *testing.T) {
	us := time.Microsecond
	s := client.PingStats{Transmitted: 4, Received: 3, Duplicates: 1, Errors: 1, RTTs: []time.Duration{100 * us, 200 * us, 300 * us},
		EWMA: 150 * us, Elapsed: 3004 * time.Millisecond}
	var b bytes.Buffer
	writePingStats(&b, "localhost:9797", s)
	want := "\n--- localhost:9797 ping statistics ---\n" +
		"4 packets transmitted, 3 received, +1 duplicates, +1 errors, 25% packet loss, time 3004ms\n" +
		"rtt min/avg/max/mdev = 0.100/0.200/0.300/0.082 ms\n"
	if b.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", b.String(), want)
	}
	if got, want := pingStatusLine(s), "3/4 packets, 25% loss, min/avg/ewma/max = 0.100/0.200/0.150/0.300 ms"; got != want {
		t.Errorf("pingStatusLine = %q, want %q", got, want)
	}
	b.Reset()
	writePingStats(&b, "h", client.PingStats{Transmitted: 2})
	if want := "\n--- h ping statistics ---\n2 packets transmitted, 0 received, 100% packet loss, time 0ms\n"; b.String() != want {
		t.Errorf("no replies: got %q", b.String())
	}
}

func TestBenchText(t *testing.T) {
	r := client.BenchResult{Kind: wire.TypeData, Elapsed: 2 * time.Second, Sent: 2500, Replies: 2400, Lost: 10, Nacks: 90, RateLimited: 30, BadAuth: 1}
	if got, want := benchStatusLine(r), "2500 sent, 2400 replies, 10 lost, 90 nacks in 2.0 s: 1200 replies/s so far"; got != want {
		t.Errorf("benchStatusLine = %q, want %q", got, want)
	}
	w := benchWarnings(r)
	if len(w) != 3 || !strings.HasPrefix(w[0], "the server rate-limited this host (30 NACKs") ||
		!strings.HasPrefix(w[1], "60 requests got a NACK (busy") || !strings.HasPrefix(w[2], "ignored 0 unauthenticated and 1 wrongly") {
		t.Errorf("benchWarnings = %q", w)
	}
	r.Kind = wire.TypePing // PINGs are never de-duplicated: a NACK is not the table's
	r.RateLimited, r.BadAuth = 90, 0
	if w := benchWarnings(r); len(w) != 1 {
		t.Errorf("ping benchWarnings = %q", w)
	}
	if w := benchWarnings(client.BenchResult{Kind: wire.TypeData, Replies: 5}); w != nil {
		t.Errorf("clean run: benchWarnings = %q", w)
	}
}

// The busy hints state udpserver's defaults; they must follow them (the
// command does not import the server for three numbers).
func TestBusyHintDefaults(t *testing.T) {
	window := fmt.Sprintf("per %d s", int(udpserver.DefaultDedupWindow.Seconds()))
	sender := fmt.Sprintf("takes %d new messages %s from one address and port", udpserver.DefaultDedupPerSource, window)
	host := fmt.Sprintf("%d new messages %s from one IP", udpserver.DefaultDedupPerHost, window)
	for _, c := range []struct {
		reason string
		want   []string
	}{
		{wire.ReasonSenderShareFull, []string{sender}},
		{"", []string{sender}},
		{wire.ReasonHostShareFull, []string{host}},
	} {
		h := busyHint(map[string]int{c.reason: 1})
		for _, w := range c.want {
			if !strings.Contains(h, w) {
				t.Errorf("reason %q: hint %q does not say %q", c.reason, h, w)
			}
		}
	}
}
