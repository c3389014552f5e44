package client

import (
	"context"
	"errors"
)

// Outcome is what became of one message, from the error Send or SendAll
// reported for it: the classification a tool prints and counts, in one
// place, so that every caller ranks the errors the same way.
type Outcome int

// The outcomes, from OutcomeOf.
const (
	Acked       Outcome = iota // no error: the server acknowledged the message
	Rejected                   // a *RejectedError: the server's NACK (for good, or busy / rate limited until the retries ran out)
	Refused                    // ErrRefused: nothing listens on the server's port (ICMP port unreachable)
	Interrupted                // the context ended with the answer outstanding: not the network's verdict
	TimedOut                   // ErrTimeout: no answer to any transmission
	Failed                     // any other error: a local one, such as ErrTooLarge or a closed client
)

// OutcomeOf classifies err, the error reported for one message. A NACK
// ranks before a refusal and a refusal before the end of the context, as
// each is the more specific answer when the error wraps several.
func OutcomeOf(err error) Outcome {
	var re *RejectedError
	switch {
	case err == nil:
		return Acked
	case errors.As(err, &re):
		return Rejected
	case errors.Is(err, ErrRefused):
		return Refused
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return Interrupted
	case errors.Is(err, ErrTimeout):
		return TimedOut
	}
	return Failed
}

// String returns the outcome's name as udpcli's output gives it: "acked",
// "rejected", "refused", "interrupted", "timeout" or "error".
func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acked"
	case Rejected:
		return "rejected"
	case Refused:
		return "refused"
	case Interrupted:
		return "interrupted"
	case TimedOut:
		return "timeout"
	case Failed:
		return "error"
	}
	return "unknown"
}
