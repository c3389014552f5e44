package client

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

func TestSendSummary(t *testing.T) {
	tests := []struct {
		unit                          string
		total, acked, failed, tooLong int
		want                          string
	}{
		{"line", 4, 2, 2, 2, "4 lines: 2 acknowledged, 2 failed (2 too long, not sent)"},
		{"line", 1, 1, 0, 0, "1 line: 1 acknowledged, 0 failed"},
		{"line", 0, 0, 0, 0, "0 lines: 0 acknowledged, 0 failed"},
		{"message", 1, 0, 1, 1, "1 message: 0 acknowledged, 1 failed (1 too long, not sent)"},
	}
	for _, tt := range tests {
		tally := SendTally{Total: tt.total, Acked: tt.acked, Failed: tt.failed, TooLarge: tt.tooLong}
		if got := tally.Summary(tt.unit); got != tt.want {
			t.Errorf("Summary(%+v) = %q, want %q", tally, got, tt.want)
		}
	}
}

// TestSendTally adds the outcomes of a run and checks the figures, the
// summary and the hint.
func TestSendTally(t *testing.T) {
	var tally SendTally
	busy := &RejectedError{Code: wire.CodeBusy, Reason: wire.ReasonTableFull}
	steps := []struct {
		r    Result
		err  error
		want Outcome
	}{
		{Result{Attempts: 1}, nil, Acked},
		{Result{Attempts: 3, Busy: 2}, nil, Acked},
		{Result{Attempts: 4, Busy: 4}, busy, Rejected},
		{Result{Attempts: 4, RateLimited: 1}, fmt.Errorf("send: %w", ErrTimeout), TimedOut},
		{Result{}, fmt.Errorf("send: %w", ErrTooLarge), Failed},
	}
	for _, s := range steps {
		if got := tally.Add(s.r, s.err); got != s.want {
			t.Errorf("Add(%v) = %v, want %v", s.err, got, s.want)
		}
	}
	if got, want := tally.Summary("line"), "5 lines: 2 acknowledged, 3 failed (1 too long, not sent); 6 NACK busy retried; 1 NACK rate limited retried"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	if h := tally.BusyHint(); !strings.HasPrefix(h, "hint: 1 line failed on NACK busy: the server's exactly-once table is full") {
		t.Errorf("BusyHint = %q", h)
	}
	if h := (&SendTally{}).BusyHint(); h != "" {
		t.Errorf("BusyHint of no failure = %q", h)
	}
	var short SendTally
	short.Add(Result{}, &RejectedError{Code: wire.CodeBusy})
	short.Add(Result{}, &RejectedError{Code: wire.CodeBusy})
	if h := short.BusyHint(); !strings.HasPrefix(h, "hint: 2 lines failed on NACK busy without a reason") {
		t.Errorf("BusyHint without reasons = %q", h)
	}
}

func TestResultText(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		r    Result
		err  error
		want string
	}{
		{Result{Attempts: 1, Elapsed: 210 * time.Microsecond}, nil, "acked in 0.210 ms (1 attempt)"},
		{Result{Attempts: 3, Elapsed: 1500 * ms, RTT: 2 * ms}, nil, "acked in 1500 ms (3 attempts, last round trip 2.00 ms)"},
		{Result{Attempts: 3, Elapsed: 15 * ms, RTT: 2 * ms, Busy: 1, RateLimited: 1}, nil,
			"acked in 15.0 ms (3 attempts, 1 NACK busy, 1 NACK rate limited, last round trip 2.00 ms)"},
		{Result{Attempts: 1}, &RejectedError{Code: wire.CodeRejected, Reason: "no\nway"}, "rejected (rejected): no way"},
		{Result{Attempts: 4, Elapsed: 3100 * ms}, fmt.Errorf("x: %w", ErrTimeout), "timed out after 4 attempts (3.1 s)"},
		{Result{Attempts: 4, Elapsed: 3100 * ms, Busy: 2}, fmt.Errorf("x: %w", ErrTimeout), "timed out after 4 attempts (3.1 s) after 2 NACK busy"},
		{Result{}, ErrTooLarge, "error: " + ErrTooLarge.Error()},
	}
	for _, tt := range tests {
		if got := tt.r.Text(tt.err); got != tt.want {
			t.Errorf("Text(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	busy := (Result{}).Text(&RejectedError{Code: wire.CodeBusy, Reason: wire.ReasonNotStored, Attempts: 4})
	if !strings.HasPrefix(busy, "failed: the server's storage did not confirm the message after 4 tries") || !strings.HasSuffix(busy, "["+wire.ReasonNotStored+"]") {
		t.Errorf("busy Text = %q", busy)
	}
	via := ServiceResult{Result: Result{Attempts: 1, Elapsed: 2 * ms}, Server: "b", Failovers: 1}
	if got, want := via.Text(nil), "acked by b in 2.00 ms (1 attempt) after 1 failover"; got != want {
		t.Errorf("ServiceResult.Text = %q, want %q", got, want)
	}
}
