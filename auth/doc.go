// Package auth authenticates udpkit datagrams with pre-shared keys and
// refuses replays (PROTOCOL.md section 5).
//
// A datagram with the AUTH flag carries, after its body, the sender ID,
// counter and time of its sender, then a 16-byte tag: the first 16 bytes
// of HMAC-SHA-256 (RFC 2104, FIPS 180-4) over every byte before it, with
// the secret of the key whose ID is in the header. A receiver holding that
// key checks the tag in constant time, then the freshness fields: the time
// must be within a clock-skew bound of its own clock, and the counter new
// within the sliding window it keeps per (key ID, sender ID), as RFC 6479
// describes it for IPsec and WireGuard uses it. Addresses are not part of
// it: a captured datagram replayed from any address and port is refused.
//
// The payload is authenticated, not encrypted: anyone on the LAN can read
// it. See SECURITY.md for the threat model.
//
// # Keys
//
// A key is a 16-bit ID and a 32-byte secret. A Keyring holds the current
// key, which signs, and at most a previous and a next key, which only
// verify, so that keys rotate without a flag day (Keyring.Rotate,
// Keyring.Stage). Key files are text, one key a line:
//
//	# ROLE ID SECRET (hex or base64)
//	current 2 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	previous 1 3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
//
// Load reads the file a --key-file flag names, or $UDPKIT_KEY_FILE, or the
// text of $UDPKIT_KEY; `udpcli keygen` writes new files with mode 0600.
//
// # Sending and receiving
//
// A sender builds an ordinary datagram with package wire and signs it; a
// retransmission is signed again (new counter and time, same message ID):
//
//	s, err := auth.NewSender(keys, auth.SenderConfig{})
//	b, err = s.Sign(wire.AppendData(buf[:0], id, payload))
//
// A receiver verifies before it looks at anything else, and drops (and
// counts) whatever fails:
//
//	r := auth.NewReceiver(keys, auth.ReplayConfig{NotBefore: start})
//	m, err := r.Verify(datagram)
//	if err != nil {
//		return // ErrBadTag, ErrReplay, ErrClock, a wire error, ...
//	}
//	reply, err := s.SignWith(wire.AppendAck(out[:0], m.Header.ID), m.Header.KeyID)
//
// Verify does not allocate for a known sender, nor when it refuses a bad
// tag, so a flood of forgeries costs one HMAC each and touches no table.
//
// # References
//
//   - RFC 2104, HMAC: Keyed-Hashing for Message Authentication; RFC 4231,
//     its SHA-256 test vectors; FIPS 198-1 and NIST SP 800-107 section 5.3.3
//     on truncating the tag (128 bits here).
//   - RFC 6479, IPsec Anti-Replay Algorithm without Bit Shifting: the ring
//     of 64-bit blocks of Replay; WireGuard's replay counter uses the same.
//   - RFC 4303 section 3.4.3 (ESP sequence number verification): check the
//     tag before updating the window.
package auth
