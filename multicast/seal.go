package multicast

import (
	"errors"
	"sync/atomic"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

// gate authenticates a test's PROBEs and REPLYs (PROTOCOL.md sections 5
// and 7). Without keys (a nil *gate) datagrams are parsed as they are and
// AUTH ones dropped; with keys, only datagrams that pass auth.Receiver are
// accepted, and every probe and reply is sealed.
type gate struct {
	send             *auth.Sender
	recv             *auth.Receiver
	refused, replays atomic.Uint64
}

func newGate(keys *auth.Keyring) (*gate, error) {
	if keys == nil {
		return nil, nil
	}
	s, err := auth.NewSender(keys, auth.SenderConfig{})
	if err != nil {
		return nil, err
	}
	return &gate{send: s, recv: auth.NewReceiver(keys, auth.ReplayConfig{})}, nil
}

// open returns the header and body of b, or ok false when b is dropped:
// without keys an authenticated datagram is dropped (PROTOCOL.md section
// 5), with keys one that does not verify.
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

// seal signs b with the current key (keyID < 0) or key keyID; nil if it
// cannot (the sender's counter is exhausted). Without keys it returns b.
func (g *gate) seal(b []byte, keyID int) []byte {
	if g == nil {
		return b
	}
	var err error
	if keyID < 0 {
		b, err = g.send.Sign(b)
	} else {
		b, err = g.send.SignWith(b, uint16(keyID))
	}
	if err != nil {
		return nil
	}
	return b
}

func (g *gate) overhead() int {
	if g == nil {
		return 0
	}
	return wire.AuthTrailerLen
}

func (g *gate) counts() (refused, replays uint64) {
	if g == nil {
		return 0, 0
	}
	return g.refused.Load(), g.replays.Load()
}
