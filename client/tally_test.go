package client

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/udpkit/udpkit/wire"
)

// TestSendTally adds the outcomes of a run and checks the figures.
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
		{Result{}, &RejectedError{Code: wire.CodeBusy}, Rejected},
		{Result{}, &RejectedError{Code: wire.CodeRejected, Reason: "no"}, Rejected},
	}
	for _, s := range steps {
		if got := tally.Add(s.r, s.err); got != s.want {
			t.Errorf("Add(%v) = %v, want %v", s.err, got, s.want)
		}
	}
	want := SendTally{Total: 7, Acked: 2, Failed: 5, TooLarge: 1, Busy: 6, RateLimited: 1,
		BusyReasons: map[string]int{wire.ReasonTableFull: 1, "": 1}}
	if !reflect.DeepEqual(tally, want) {
		t.Errorf("tally = %+v, want %+v", tally, want)
	}
}
