package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// Errors of Seal, Open and Verify. Open and Verify return them unwrapped, so
// that a receiver under a flood of bad datagrams does not allocate.
var (
	// ErrBadTag reports a datagram whose tag does not match: forged,
	// corrupted, or made with another secret under the same key ID.
	ErrBadTag = errors.New("auth: authentication tag does not match")
	// ErrSealed reports an attempt to seal a datagram that already carries
	// the auth flag or a key ID.
	ErrSealed = errors.New("auth: datagram is already authenticated")
	// ErrCounterExhausted reports a Sender that used every counter value;
	// make a new Sender (it draws a new sender ID).
	ErrCounterExhausted = errors.New("auth: sender counter exhausted")
)

// Seal authenticates the unauthenticated datagram b in place and returns
// it, extended by wire.AuthTrailerLen bytes: it sets the auth flag and the
// key ID in the header, appends the freshness fields f and then the tag, the
// first wire.TagLen bytes of HMAC-SHA-256 with the key's secret over every
// byte before the tag. b must be a valid datagram (wire.Parse); when cap(b)
// has room for the trailer, Seal does not allocate.
//
// Seal is the building block of Sender, which fills f; call it directly only
// to reproduce a datagram (test vectors).
func (kr *Keyring) Seal(b []byte, keyID uint16, f wire.Freshness) ([]byte, error) {
	e := kr.lookup(keyID)
	if e == nil {
		return b, ErrUnknownKey
	}
	h, _, err := wire.Parse(b)
	if err != nil {
		return b, fmt.Errorf("auth: sealing: %w", err)
	}
	if h.Flags&wire.FlagAuth != 0 || h.KeyID != 0 {
		return b, ErrSealed
	}
	wire.SetAuth(b, keyID)
	b = wire.AppendFreshness(b, f)
	m := e.get()
	m.h.Write(b)
	m.h.Sum(m.sum[:0])
	b = append(b, m.sum[:wire.TagLen]...)
	e.put(m)
	return b, nil
}

// Open checks the tag of the authenticated datagram b and returns its
// header, body (a sub-slice of b) and freshness fields. It checks the
// datagram's structure (wire.ParseAuth), looks the key up by ID and compares
// the tag in constant time; it does not check freshness (Verify does). It
// does not allocate unless the datagram is malformed.
func (kr *Keyring) Open(b []byte) (wire.Header, []byte, wire.Freshness, error) {
	h, body, f, tag, err := wire.ParseAuth(b)
	if err != nil {
		return h, nil, f, err
	}
	e := kr.lookup(h.KeyID)
	if e == nil {
		return h, nil, f, ErrUnknownKey
	}
	m := e.get()
	m.h.Write(b[:len(b)-wire.TagLen])
	m.h.Sum(m.sum[:0])
	ok := subtle.ConstantTimeCompare(m.sum[:wire.TagLen], tag) == 1
	e.put(m)
	if !ok {
		return h, nil, f, ErrBadTag
	}
	return h, body, f, nil
}

// SenderConfig configures a Sender. The zero value works.
type SenderConfig struct {
	// ID is the sender ID. Zero (the default) draws a random non-zero one
	// from crypto/rand: senders sharing a key must not share an ID, and a
	// restarted sender must not reuse its predecessor's (its counter starts
	// again at 1, which receivers would take for replays).
	ID uint64
	// Now is the clock stamped into every datagram. Nil means time.Now.
	Now func() time.Time
}

// Sender signs outgoing datagrams: it stamps each with its sender ID, the
// next counter value and the time, then seals it. It is safe for
// concurrent use; one Sender per process (or per socket) is the intended
// use.
type Sender struct {
	keys *Keyring
	id   uint64
	now  func() time.Time
	ctr  atomic.Uint64 // last counter used
}

// NewSender returns a Sender that signs with keys.
func NewSender(keys *Keyring, cfg SenderConfig) (*Sender, error) {
	s := &Sender{keys: keys, id: cfg.ID, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	for s.id == 0 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("auth: drawing a sender ID: %w", err)
		}
		s.id = binary.BigEndian.Uint64(b[:])
	}
	return s, nil
}

// ID returns the sender ID stamped into every datagram.
func (s *Sender) ID() uint64 { return s.id }

// Keys returns the keyring the sender signs with.
func (s *Sender) Keys() *Keyring { return s.keys }

// Sign seals the unauthenticated datagram b with the current key (see
// Keyring.Seal). A retransmission is signed again: same message, new
// counter and time.
func (s *Sender) Sign(b []byte) ([]byte, error) { return s.SignWith(b, s.keys.Current()) }

// SignWith seals b with the key keyID. Replies are signed with the key of
// the request they answer, so that a peer that does not have the newest key
// yet still understands them during a rotation.
func (s *Sender) SignWith(b []byte, keyID uint16) ([]byte, error) {
	c := s.ctr.Add(1)
	if c == math.MaxUint64 {
		s.ctr.Store(math.MaxUint64 - 1) // stay exhausted
		return b, ErrCounterExhausted
	}
	return s.keys.Seal(b, keyID, wire.Freshness{Sender: s.id, Counter: c, Time: unixMilli(s.now())})
}

// unixMilli converts t to the protocol's time field (0 before 1970).
func unixMilli(t time.Time) uint64 {
	ms := t.UnixMilli()
	if ms < 0 {
		return 0
	}
	return uint64(ms)
}
