package client

// What a tool says about a run of sends: the line of each message, the
// tally behind the summary, and the hint after NACK busy failures.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/udpkit/udpkit/wire"
)

// Text is the line a tool prints for a Send that returned r and err:
// "acked in 0.21 ms (1 attempt)", "timed out after 4 attempts (3.1 s)",
// "rejected (rejected): not for me", "failed: ..." for a NACK busy or rate
// limited that outlasted the retries, and so on.
func (r Result) Text(err error) string { return r.text("", 0, err) }

// Text is Result.Text naming the server that answered: "acked by NAME in
// 0.21 ms (1 attempt) after 1 failover"; without a Server, Result.Text.
func (r ServiceResult) Text(err error) string {
	if r.Server == "" {
		return r.Result.Text(err)
	}
	return r.Result.text("by "+r.Server+" ", r.Failovers, err)
}

func (r Result) text(by string, failovers int, err error) string {
	switch OutcomeOf(err) {
	case Acked:
		// The time until the ACK; after retransmissions that is not the
		// round trip, which then follows in brackets.
		var text string
		switch {
		case r.Attempts == 1:
			text = fmt.Sprintf("acked %sin %s ms (1 attempt)", by, fmtMs(r.Elapsed))
		case r.Busy > 0 || r.RateLimited > 0:
			text = fmt.Sprintf("acked %sin %s ms (%d attempts, %s, last round trip %s ms)", by, fmtMs(r.Elapsed), r.Attempts, r.nacks(), fmtMs(r.RTT))
		default:
			text = fmt.Sprintf("acked %sin %s ms (%d attempts, last round trip %s ms)", by, fmtMs(r.Elapsed), r.Attempts, fmtMs(r.RTT))
		}
		if failovers > 0 {
			text += " after " + plural(failovers, "failover")
		}
		return text
	case Rejected:
		var re *RejectedError
		errors.As(err, &re)
		reason := re.PrintableReason()
		if x := re.Explain(); x != "" {
			// Not a refusal for good: the server said "not now" until the
			// retries ran out.
			text := "failed: " + x
			if reason != "" {
				text += " [" + reason + "]"
			}
			return text
		}
		text := fmt.Sprintf("rejected (%v)", re.Code)
		if reason != "" {
			text += ": " + reason
		}
		return text
	case Refused:
		return "refused: " + err.Error()
	case Interrupted:
		// Ctrl-C with the answer outstanding: not the network's verdict.
		return "interrupted"
	case TimedOut:
		text := fmt.Sprintf("timed out after %s (%.1f s)", plural(r.Attempts, "attempt"), r.Elapsed.Seconds())
		if r.Busy > 0 || r.RateLimited > 0 {
			text += " after " + r.nacks()
		}
		return text
	}
	return "error: " + err.Error()
}

// nacks says how many NACK busy and rate limited a message had retried:
// "2 NACK busy, 1 NACK rate limited".
func (r Result) nacks() string {
	var parts []string
	if r.Busy > 0 {
		parts = append(parts, fmt.Sprintf("%d NACK busy", r.Busy))
	}
	if r.RateLimited > 0 {
		parts = append(parts, fmt.Sprintf("%d NACK rate limited", r.RateLimited))
	}
	return strings.Join(parts, ", ")
}

// SendTally adds up the outcomes of a run of sends (SendAll): the figures
// of the summary line, and why messages failed on NACK busy. The zero
// value is an empty tally.
type SendTally struct {
	// Total counts the messages, Acked those acknowledged, Failed all
	// others, TooLarge those of Failed that were never sent (ErrTooLarge).
	Total, Acked, Failed, TooLarge int
	// Busy and RateLimited count the NACKs retried, over all messages.
	Busy, RateLimited int

	busy map[string]int // messages that failed on NACK busy, by its reason
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
		if t.busy == nil {
			t.busy = map[string]int{}
		}
		t.busy[re.Reason]++
	}
	t.Failed++
	return o
}

// Summary is the line after a run whose messages are called unit ("line"
// or "message"): "4 lines: 2 acknowledged, 2 failed (2 too long, not
// sent); 3 NACK busy retried". Messages too large for a datagram count as
// failed, but were never sent, so the summary does not call them sent.
func (t *SendTally) Summary(unit string) string {
	s := fmt.Sprintf("%s: %d acknowledged, %d failed", plural(t.Total, unit), t.Acked, t.Failed)
	if t.TooLarge > 0 {
		s += fmt.Sprintf(" (%d too long, not sent)", t.TooLarge)
	}
	if t.Busy > 0 {
		s += fmt.Sprintf("; %d NACK busy retried", t.Busy)
	}
	if t.RateLimited > 0 {
		s += fmt.Sprintf("; %d NACK rate limited retried", t.RateLimited)
	}
	return s
}

// BusyHint is the line to show after a run where messages failed on NACK
// busy, saying why and what to do; "" when none did. A NACK's text only
// fits in the reply to a request at least as long (PROTOCOL.md), so short
// messages get the code alone and the hint names the likely causes.
func (t *SendTally) BusyHint() string {
	n := 0
	for _, k := range t.busy {
		n += k
	}
	lines := plural(n, "line")
	switch by := t.busy; {
	case n == 0:
		return ""
	case by[wire.ReasonSenderShareFull] > 0:
		return "hint: " + lines + " failed on NACK busy: the server's per-sender exactly-once share is full (udpserver takes 16384 new messages per 120 s from one address and port at its defaults): send fewer per 2 minutes from one socket, or raise udpserver --dedup-per-source (and --dedup-per-host)"
	case by[wire.ReasonNotStored] > 0:
		return "hint: " + lines + " failed on NACK busy: the server's storage did not confirm them (udpserver --forward: the NATS JetStream broker is down or unreachable, or the stream is full); check the broker and the stream (nats stream info), retry later or send to another server"
	case by[""] == n:
		return "hint: " + lines + " failed on NACK busy without a reason (a reply to a short line has no room for one): either the server's storage did not confirm them (udpserver --forward: the broker is down or the stream is full; check nats stream info), or this sender's exactly-once share is full (udpserver takes 16384 new messages per 120 s from one address and port at its defaults: send fewer per 2 minutes from one socket, or raise --dedup-per-source and --dedup-per-host); a --forward server logs what it could not store"
	case by[wire.ReasonHostShareFull] > 0:
		return "hint: " + lines + " failed on NACK busy: the server's per-host exactly-once share is full (65536 new messages per 120 s from one IP at its defaults): slow down, or raise udpserver --dedup-per-host"
	case by[wire.ReasonTableFull] > 0:
		return "hint: " + lines + " failed on NACK busy: the server's exactly-once table is full (all senders): retry later, or raise udpserver --dedup-entries"
	}
	return "hint: " + lines + " failed on NACK busy (the server was overloaded or its storage did not confirm): retry later or send to another server"
}

// plural returns "1 attempt" or "n attempts".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
