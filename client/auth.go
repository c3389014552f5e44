package client

import (
	"errors"
	"fmt"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

// authState seals what a client sends and verifies what it receives when
// it has keys (Config.Keys, PROTOCOL.md section 5). A nil *authState is a
// client without keys: it sends messages as they are and ignores every
// reply with the AUTH flag, which it could not check.
type authState struct {
	signer *auth.Sender
	inbox  *auth.Receiver
}

// newAuthState returns the authentication state for keys, nil for none.
// A client draws a new sender ID when it starts; replies need no time
// floor (they only complete requests the client has pending).
func newAuthState(keys *auth.Keyring) *authState {
	if keys == nil {
		return nil
	}
	s, err := auth.NewSender(keys, auth.SenderConfig{})
	if err != nil {
		// crypto/rand does not fail on the platforms Go supports (since
		// Go 1.24 it never returns an error).
		panic(fmt.Sprintf("client: drawing a sender ID: %v", err))
	}
	return &authState{signer: s, inbox: auth.NewReceiver(keys, auth.ReplayConfig{})}
}

// overhead is what authentication adds to every datagram.
func (a *authState) overhead() int {
	if a == nil {
		return 0
	}
	return wire.AuthTrailerLen
}

// seal returns msg sealed with the current key, in a new buffer (msg
// stays unsealed, so that a retransmission is sealed again), or msg
// itself without keys.
func (a *authState) seal(msg []byte) ([]byte, error) {
	if a == nil {
		return msg, nil
	}
	b := make([]byte, len(msg), len(msg)+wire.AuthTrailerLen)
	copy(b, msg)
	return a.signer.Sign(b)
}

// open parses a received datagram: without keys with wire.Parse, refusing
// AUTH datagrams; with keys it verifies it (auth.Receiver.Verify).
func (a *authState) open(b []byte) (wire.Header, []byte, error) {
	if a == nil {
		h, body, err := wire.Parse(b)
		if err == nil && h.Flags&wire.FlagAuth != 0 {
			return h, nil, errNoKeys
		}
		return h, body, err
	}
	m, err := a.inbox.Verify(b)
	return m.Header, m.Body, err
}

// errNoKeys reports an authenticated reply to a client without keys.
var errNoKeys = errors.New("client: authenticated datagram, but no keys to check it")

// Classes of datagrams open refuses.
const (
	authMalformed = iota // a wire error
	authMissing          // no AUTH flag with keys, or AUTH without keys
	authBad              // failed verification
)

func classify(err error) int {
	switch {
	case err == errNoKeys, err == wire.ErrNotAuth:
		return authMissing
	case isAuthError(err):
		return authBad
	}
	return authMalformed
}

func isAuthError(err error) bool {
	switch err {
	case auth.ErrBadTag, auth.ErrUnknownKey, auth.ErrReplay, auth.ErrTooOld, auth.ErrClock, auth.ErrTooManySenders:
		return true
	}
	return false
}
