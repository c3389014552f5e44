package multicast

import "github.com/udpkit/udpkit/auth"

// sealed signs b through g (auth.Gate.Seal), or returns nil when it cannot
// (the sender's counter is exhausted): the datagram is then not sent.
func sealed(g *auth.Gate, b []byte, keyID int) []byte {
	b, err := g.Seal(b, keyID)
	if err != nil {
		return nil
	}
	return b
}
