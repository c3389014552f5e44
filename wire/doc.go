// Package wire encodes and decodes udpkit datagrams: a fixed 16-byte header
// (magic, version, type, flags, reason code, key ID, 64-bit message ID)
// followed by a body and, when the AUTH flag is set, a 16-byte
// authentication tag. PROTOCOL.md at the root of the module is the
// normative description; this package is its Go implementation and the
// golden vectors in testdata/vectors.txt are its worked examples.
//
// The package is pure: no I/O, no goroutines, standard library only.
// Encoders append to a caller's buffer and Parse returns the body as a
// sub-slice of its input, so a server loop runs without allocating.
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
// then parses. Parse checks everything that can be checked without a key
// and reports every malformed datagram with one of the Err sentinels,
// wrapped with detail:
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
