package wire

// Texts of NACK busy that say which de-duplication share is full
// (PROTOCOL.md section 3), or that the server's storage did not confirm. A server sends one only when it fits whole in a
// reply no longer than the request, otherwise the code alone; a client may
// recognise them to tell its user why and what to do.
const (
	// ReasonSenderShareFull: the sender (address and port) already has as
	// many exchanges remembered as its share allows; new messages from it
	// are refused until its oldest ones pass EXCHANGE_LIFETIME.
	ReasonSenderShareFull = "sender share full"
	// ReasonHostShareFull: the same for all ports of the sender's host
	// (IPv4 address, or IPv6 /64).
	ReasonHostShareFull = "host share full"
	// ReasonTableFull: the server's whole de-duplication table is full.
	ReasonTableFull = "table full"
	// ReasonNotStored: the server stores what it acknowledges (udpserver
	// --forward) and its storage did not confirm the message in time
	// (broker down or unreachable, stream full, too many waiting); the
	// de-duplication shares are not the cause. Short, so that it fits the
	// reply to a request of 10 bytes or more of payload.
	ReasonNotStored = "not stored"
)
