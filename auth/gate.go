package auth

import (
	"errors"
	"sync/atomic"

	"github.com/udpkit/udpkit/wire"
)

// Gate is the authentication policy of one receiving and sending endpoint
// (a discovery Announcer, Browser or Watcher, a multicast test), PROTOCOL.md
// section 5. A nil *Gate is the gate of an endpoint without keys: Open
// parses datagrams as they are and drops every authenticated one, which it
// cannot check, and Seal leaves datagrams as they are. A Gate with keys
// accepts only datagrams that pass its Receiver (unauthenticated ones are
// refused) and seals what it sends with its Sender. Its methods are safe
// for concurrent use.
type Gate struct {
	send *Sender
	recv *Receiver
	// refused counts datagrams dropped for failing authentication
	// (unauthenticated, unknown key, bad tag, stale clock); replays those
	// refused by the replay window.
	refused, replays atomic.Uint64
}

// NewGate returns the gate for keys, with the replay window configured by
// rc (a receiver that acts on what it hears passes its start time as
// rc.NotBefore), or nil when keys is nil.
func NewGate(keys *Keyring, rc ReplayConfig) (*Gate, error) {
	if keys == nil {
		return nil, nil
	}
	s, err := NewSender(keys, SenderConfig{})
	if err != nil {
		return nil, err
	}
	return &Gate{send: s, recv: NewReceiver(keys, rc)}, nil
}

// Open returns the header and body of datagram b (trailer stripped), or ok
// false when b is to be dropped; a dropped datagram is counted (Counts).
func (g *Gate) Open(b []byte) (h wire.Header, body []byte, ok bool) {
	if g == nil {
		h, body, err := wire.Parse(b)
		return h, body, err == nil && h.Flags&wire.FlagAuth == 0
	}
	m, err := g.recv.Verify(b)
	switch {
	case err == nil:
		return m.Header, m.Body, true
	case errors.Is(err, ErrReplay) || errors.Is(err, ErrTooOld):
		g.replays.Add(1)
	default:
		g.refused.Add(1)
	}
	return wire.Header{}, nil, false
}

// Seal signs datagram b with the current key (keyID < 0) or with key keyID
// (a reply to a request signed with it). Without keys it returns b.
func (g *Gate) Seal(b []byte, keyID int) ([]byte, error) {
	if g == nil {
		return b, nil
	}
	if keyID < 0 {
		return g.send.Sign(b)
	}
	return g.send.SignWith(b, uint16(keyID))
}

// Overhead is what Seal adds to a datagram: wire.AuthTrailerLen, or zero
// without keys.
func (g *Gate) Overhead() int {
	if g == nil {
		return 0
	}
	return wire.AuthTrailerLen
}

// Counts returns the datagrams Open refused for failing authentication and
// those it refused as replays (zero without keys).
func (g *Gate) Counts() (refused, replays uint64) {
	if g == nil {
		return 0, 0
	}
	return g.refused.Load(), g.replays.Load()
}
