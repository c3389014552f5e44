package client

import (
	"errors"
	"fmt"
	"strings"

	"github.com/udpkit/udpkit/wire"
)

// Errors returned by Dial, Send, SendAll and Ping, wrapped with detail; test them
// with errors.Is.
var (
	// ErrTimeout means that no ACK or NACK came back after every
	// transmission the configuration allows. The message says how many
	// attempts were made over how long.
	ErrTimeout = errors.New("timed out")

	// ErrRefused means that an ICMP port unreachable came back for traffic
	// this client sent: nothing listens on the server's address and port.
	ErrRefused = errors.New("connection refused")

	// ErrUnreachable means that the network reported the server's host or
	// network unreachable (ICMP host or network unreachable, or the local
	// system's own: no ARP or neighbour answer). Only a PING is failed by
	// it (Pong.Err, as ping's "Destination Host Unreachable"); a DATA
	// message goes on retransmitting, since the condition is often brief.
	ErrUnreachable = errors.New("host unreachable")

	// ErrRejected matches every *RejectedError: the server answered with a
	// NACK. Resending will not help, except after NACK busy or rate
	// limited, which the client already retried within its budget.
	ErrRejected = errors.New("rejected")

	// ErrTooLarge means that the payload and the 16-byte header do not fit
	// in Config.MaxDatagram. Nothing was sent.
	ErrTooLarge = errors.New("message too large")

	// ErrBadAddress is returned by Dial for an address that is not
	// HOST:PORT, a port out of range, or a host name that does not exist:
	// a mistake of the caller, not of the network. A resolver that cannot
	// be reached, a missing route or another local network error does not
	// match it.
	ErrBadAddress = errors.New("bad address")
)

// RejectedError is the server's NACK for a message. errors.Is(err,
// ErrRejected) reports true for it. For a NACK busy or rate limited it
// is the last of several: the client retried while its budget lasted.
type RejectedError struct {
	ID     uint64    // the message ID the NACK answered
	Code   wire.Code // the reason code, never wire.CodeNone
	Reason string    // the server's explanation; may be empty
	// Attempts is how many transmissions the message had when the NACK
	// came (0 when not known).
	Attempts int
}

// PrintableReason is Reason, the server's untrusted text, with control
// characters replaced by spaces: safe to print on one line (and it is how
// Error shows it).
func (e *RejectedError) PrintableReason() string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, e.Reason)
}

// Error returns "rejected by server: CODE" followed by the reason, if any,
// and, for a NACK busy or rate limited, how many tries were made and
// what the text means (Explain).
func (e *RejectedError) Error() string {
	s := "rejected by server: " + e.Code.String()
	if e.Reason != "" {
		s += ": " + e.PrintableReason()
	}
	if x := e.Explain(); x != "" {
		s += " (" + x + ")"
	}
	return s
}

// Explain says, for a user, why a NACK busy or rate limited ended the
// message and what to do about it; "" for other codes. The texts of
// wire.ReasonSenderShareFull and its kin are recognised; the figures
// quoted are udpserver's defaults, since the server does not send its own.
func (e *RejectedError) Explain() string {
	tries := ""
	if e.Attempts > 0 {
		tries = fmt.Sprintf(" after %d tries", e.Attempts)
	}
	switch {
	case e.Code == wire.CodeRateLimited:
		return "rate limited by the server" + tries + "; send more slowly (a smaller --window) or raise udpserver --rate-limit"
	case e.Code != wire.CodeBusy:
		return ""
	case e.Reason == wire.ReasonSenderShareFull:
		return "the server's per-sender exactly-once share is full" + tries + " (udpserver's default: 16384 new messages per 120 s from one address and port); slow down or raise udpserver --dedup-per-source"
	case e.Reason == wire.ReasonHostShareFull:
		return "the server's per-host exactly-once share is full" + tries + " (udpserver's default: 65536 new messages per 120 s from one IP, all ports); slow down or raise udpserver --dedup-per-host"
	case e.Reason == wire.ReasonNotStored:
		return "the server's storage did not confirm the message" + tries + " (udpserver --forward: the NATS JetStream broker is down or unreachable, or the stream is full); retry later or send to another server"
	case e.Reason == wire.ReasonTableFull:
		return "the server's exactly-once table is full" + tries + " (udpserver's default: 262144 messages per 120 s, all senders); retry later or raise udpserver --dedup-entries"
	}
	return "the server stayed busy" + tries + ": overloaded, its storage did not confirm, or an exactly-once share was full (udpserver's default: 16384 new messages per 120 s per sender); retry later"
}

// Is reports whether target is ErrRejected.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }
