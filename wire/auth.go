package wire

import (
	"encoding/binary"
	"errors"
)

// Layout of an authenticated datagram (PROTOCOL.md section 5). When FlagAuth
// is set, a trailer of AuthTrailerLen bytes ends the datagram:
//
//	header (16) | body | sender (8) | counter (8) | time (8) | tag (16)
//
// The tag is the first TagLen bytes of HMAC-SHA-256 over every byte before
// it; package auth computes and checks it. This file only places the fields.
const (
	// FreshnessLen is the length of the sender, counter and time fields
	// that precede the tag.
	FreshnessLen = 24

	// AuthTrailerLen is the length of everything FlagAuth adds after the
	// body: the freshness fields and the tag.
	AuthTrailerLen = FreshnessLen + TagLen

	// MinAuthLen is the length of the shortest authenticated datagram (a
	// header and a trailer, no body), e.g. an authenticated Ack.
	MinAuthLen = HeaderLen + AuthTrailerLen
)

// ErrNotAuth is returned by ParseAuth for a datagram without FlagAuth.
var ErrNotAuth = errors.New("wire: datagram is not authenticated (no auth flag)")

// Freshness is what a receiver needs, inside the authenticated part, to
// refuse a replayed datagram (PROTOCOL.md section 5).
type Freshness struct {
	// Sender is a random non-zero number its sender chose at start-up; it
	// names one sequence of counters. Receivers keep one replay window per
	// (key ID, Sender).
	Sender uint64
	// Counter is 1 for the first datagram a sender sends under Sender and
	// one more for every further datagram, retransmissions included.
	Counter uint64
	// Time is the sender's clock when it sealed the datagram, in
	// milliseconds since 1970-01-01 UTC (Unix time).
	Time uint64
}

// AppendFreshness appends the encoding of f (FreshnessLen bytes) to dst.
func AppendFreshness(dst []byte, f Freshness) []byte {
	dst = binary.BigEndian.AppendUint64(dst, f.Sender)
	dst = binary.BigEndian.AppendUint64(dst, f.Counter)
	return binary.BigEndian.AppendUint64(dst, f.Time)
}

// SetAuth marks the header of datagram b, in place, as authenticated with
// key keyID: it sets FlagAuth and writes the key ID. b must hold at least a
// header (HeaderLen bytes); the trailer is the caller's to append
// (AppendFreshness, then the tag).
func SetAuth(b []byte, keyID uint16) {
	_ = b[HeaderLen-1] // one bounds check: b holds a whole header
	b[4] |= byte(FlagAuth)
	binary.BigEndian.PutUint16(b[6:8], keyID)
}

// ParseAuth decodes an authenticated datagram: its header, its body (a
// sub-slice of b, without the trailer), its freshness fields and its tag
// (the last TagLen bytes of b). It checks every rule Parse checks and that
// the trailer is complete, but not the tag: that needs the key (package
// auth). It does not allocate unless it fails.
func ParseAuth(b []byte) (Header, []byte, Freshness, []byte, error) {
	var f Freshness
	if len(b) >= HeaderLen && IsMessage(b) && Flags(b[4])&FlagAuth == 0 {
		return Header{}, nil, f, nil, ErrNotAuth
	}
	// Parse strips the trailer (or says ErrTrailer when there is no room for
	// it) and applies the per-type rules to the real body.
	h, body, err := Parse(b)
	if err != nil {
		return h, nil, f, nil, err
	}
	t := b[len(b)-AuthTrailerLen:]
	f.Sender = binary.BigEndian.Uint64(t[0:8])
	f.Counter = binary.BigEndian.Uint64(t[8:16])
	f.Time = binary.BigEndian.Uint64(t[16:24])
	return h, body, f, b[len(b)-TagLen:], nil
}
