package client

import (
	"errors"
	"fmt"

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
	// NACK. Resending will not help.
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
// ErrRejected) reports true for it.
type RejectedError struct {
	ID     uint64    // the message ID the NACK answered
	Code   wire.Code // the reason code, never wire.CodeNone
	Reason string    // the server's explanation; may be empty
}

// Error returns "rejected by server: CODE" followed by the reason, if any.
func (e *RejectedError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("rejected by server: %v", e.Code)
	}
	return fmt.Sprintf("rejected by server: %v: %s", e.Code, e.Reason)
}

// Is reports whether target is ErrRejected.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }
