package client

import (
	"errors"

	"github.com/udpkit/udpkit/wire"
)

// SendTally adds up the outcomes of a run of sends (SendAll): the figures
// a tool's summary gives, and the NACK busy reasons of the messages that
// failed on one. The zero value is an empty tally.
type SendTally struct {
	// Total counts the messages, Acked those acknowledged, Failed all
	// others, TooLarge those of Failed that were never sent (ErrTooLarge).
	Total, Acked, Failed, TooLarge int
	// Busy and RateLimited count the NACKs retried, over all messages.
	Busy, RateLimited int
	// BusyReasons counts the messages that failed on NACK busy, by the
	// NACK's reason: "" when the reply had no room for one (PROTOCOL.md),
	// else one of the wire.Reason* texts or the server's own. Nil until
	// one did.
	BusyReasons map[string]int
}

// Add counts one message's result and returns its outcome.
func (t *SendTally) Add(r Result, err error) Outcome {
	t.Total++
	t.Busy += r.Busy
	t.RateLimited += r.RateLimited
	o := OutcomeOf(err)
	var re *RejectedError
	switch {
	case o == Acked:
		t.Acked++
		return o
	case o == Failed && errors.Is(err, ErrTooLarge):
		t.TooLarge++
	case o == Rejected && errors.As(err, &re) && re.Code == wire.CodeBusy:
		if t.BusyReasons == nil {
			t.BusyReasons = map[string]int{}
		}
		t.BusyReasons[re.Reason]++
	}
	t.Failed++
	return o
}
