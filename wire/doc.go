// Package wire is the whole udpkit protocol as pure code: the fixed 16-byte
// header (magic, version, type, flags, reason code, key ID, 64-bit message
// ID) that starts every datagram, and the body of every message type of
// PROTOCOL.md:
//
//	DATA, ACK, NACK, PING, PONG   header codec (Parse, AppendData, AppendAck, AppendNack, Append)
//	QUERY                         Query, AppendQuery, ParseQuery           (discovery.go)
//	ANNOUNCE, ANSWER, GOODBYE     Record, AppendRecord, ParseRecord        (discovery.go)
//	PROBE, REPLY                  Probe, Reply, AppendProbe, ParseProbe,
//	                              AppendReply, ParseReply                  (probe.go)
//
// with the protocol's constants (ports, groups, service types, attribute
// keys: constants.go) and its name rules (DNS-SD service types, instance
// names and attributes, DNS case folding: names.go). PROTOCOL.md at the root
// of the module is the normative description; the golden vectors in
// testdata/ (vectors.txt for the header, discovery/ and multicast/ for the
// bodies) are its worked examples.
//
// The package is pure: no I/O, no goroutines, standard library only, so a
// small Go program on a device can parse an ANNOUNCE by importing wire
// alone. Encoders append to a caller's buffer and Parse returns the body as
// a sub-slice of its input, so a server loop runs without allocating.
//
// # Errors
//
// Parse, ParseProbe and ParseReply return bare sentinel errors (ErrShort,
// ErrMagic, ErrVersion, ..., ErrMalformed) and never allocate, as
// tailscale's stun package does: a flood of malformed datagrams costs a
// receiver nothing. Explain and ExplainProbe return the same sentinel
// wrapped with the reason, for debug logs. ParseQuery and ParseRecord,
// which allocate their names anyway, wrap ErrMalformed with detail.
//
// # Sending
//
// A client builds a Data message into a reusable buffer and sends it,
// keeping the message ID to match the reply:
//
//	buf := make([]byte, 0, wire.DefaultMaxDatagram)
//	buf = wire.AppendData(buf[:0], id, []byte("temperature=21.5"))
//	_, err := conn.Write(buf)
//
// Until an Ack or Nack with the same ID arrives, the client retransmits the
// identical datagram with exponential back-off (PROTOCOL.md section 3).
//
// # Receiving
//
// A receiver first splits protocol traffic from raw text with IsMessage,
// then parses, once, and dispatches by type. Parse checks everything that
// can be checked without a key and reports every malformed datagram with
// one of the Err sentinels:
//
//	n, addr, err := pc.ReadFrom(buf)
//	if !wire.IsMessage(buf[:n]) {
//		// raw text mode (PROTOCOL.md section 4)
//	}
//	h, body, err := wire.Parse(buf[:n])
//	switch {
//	case err != nil:
//		// drop and count; never answer a malformed datagram
//	case h.Type == wire.TypeData:
//		reply := wire.AppendAck(out[:0], h.ID)
//		// or wire.AppendNack(out[:0], h.ID, wire.CodeRejected, "why", n)
//		_ = body
//	}
//
// AppendNack cuts its text, on a UTF-8 rune boundary, so that the reply is
// never longer than the request: a server must not be usable as an
// amplifier.
//
// # References
//
//   - RFC 768, User Datagram Protocol: the transport; there is no length
//     field because UDP keeps datagram boundaries.
//   - RFC 8085, UDP Usage Guidelines: message size (DefaultMaxDatagram
//     avoids IP fragmentation, section 3.2), congestion control with
//     exponential back-off (section 3.1) and reflection/amplification
//     (section 6).
//   - RFC 7252, The Constrained Application Protocol (CoAP): confirmable
//     messages, message IDs and de-duplication within EXCHANGE_LIFETIME, and
//     retransmission with jitter (section 4) inspired the exchange rules.
package wire
