package discovery

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

// gate authenticates the discovery datagrams of one Announcer, Browser or
// Watcher (PROTOCOL.md sections 5 and 6.7). Without keys (a nil *gate) it
// parses datagrams as they are and refuses every AUTH one, which it cannot
// check; with keys it refuses everything that does not pass auth.Receiver
// (unauthenticated datagrams included) and seals what it sends.
type gate struct {
	send *auth.Sender
	recv *auth.Receiver
	// refused counts datagrams dropped for failing authentication
	// (unauthenticated, unknown key, bad tag, stale clock); replays counts
	// those refused by the replay window, among them the second copy of
	// every message that is sent to the broadcast address and the groups.
	refused, replays atomic.Uint64
}

// newGate returns nil when keys is nil. A receiver that acts on what it
// hears (an Announcer answers queries) passes its start time as notBefore.
func newGate(keys *auth.Keyring, notBefore time.Time) (*gate, error) {
	if keys == nil {
		return nil, nil
	}
	s, err := auth.NewSender(keys, auth.SenderConfig{})
	if err != nil {
		return nil, err
	}
	return &gate{send: s, recv: auth.NewReceiver(keys, auth.ReplayConfig{NotBefore: notBefore})}, nil
}

// open returns the header and body of datagram b, or ok false when b is to
// be dropped.
func (g *gate) open(b []byte) (h wire.Header, body []byte, ok bool) {
	if g == nil {
		h, body, err := wire.Parse(b)
		return h, body, err == nil && h.Flags&wire.FlagAuth == 0
	}
	m, err := g.recv.Verify(b)
	switch {
	case err == nil:
		return m.Header, m.Body, true
	case errors.Is(err, auth.ErrReplay) || errors.Is(err, auth.ErrTooOld):
		g.replays.Add(1)
	default:
		g.refused.Add(1)
	}
	return wire.Header{}, nil, false
}

// seal signs b with the current key (keyID < 0) or with key keyID (a reply
// to a request signed with it). Without keys it returns b.
func (g *gate) seal(b []byte, keyID int) ([]byte, error) {
	if g == nil {
		return b, nil
	}
	if keyID < 0 {
		return g.send.Sign(b)
	}
	return g.send.SignWith(b, uint16(keyID))
}

// overhead is what sealing adds to a datagram.
func (g *gate) overhead() int {
	if g == nil {
		return 0
	}
	return wire.AuthTrailerLen
}

// counts returns refused and replays (zero without keys).
func (g *gate) counts() (refused, replays uint64) {
	if g == nil {
		return 0, 0
	}
	return g.refused.Load(), g.replays.Load()
}
