package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/wire"
)

func TestOutcomeOf(t *testing.T) {
	rej := &client.RejectedError{Code: wire.CodeBusy}
	for _, tc := range []struct {
		err  error
		want client.Outcome
		name string
	}{
		{nil, client.Acked, "acked"},
		{rej, client.Rejected, "rejected"},
		{fmt.Errorf("send 3: %w", rej), client.Rejected, "rejected"},
		{fmt.Errorf("x: %w", client.ErrRefused), client.Refused, "refused"},
		{context.Canceled, client.Interrupted, "interrupted"},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), client.Interrupted, "interrupted"},
		{fmt.Errorf("after 4 attempts: %w", client.ErrTimeout), client.TimedOut, "timeout"},
		{client.ErrTooLarge, client.Failed, "error"},
		{errors.New("use of closed network connection"), client.Failed, "error"},
		// The more specific answer wins when one error wraps several.
		{errors.Join(client.ErrRefused, context.Canceled), client.Refused, "refused"},
		{errors.Join(context.Canceled, client.ErrTimeout), client.Interrupted, "interrupted"},
	} {
		if got := client.OutcomeOf(tc.err); got != tc.want || got.String() != tc.name {
			t.Errorf("OutcomeOf(%v) = %v (%d), want %s", tc.err, got, got, tc.name)
		}
	}
	if s := client.Outcome(99).String(); s != "unknown" {
		t.Errorf("Outcome(99) = %q", s)
	}
}
