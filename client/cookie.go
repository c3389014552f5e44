package client

import "github.com/udpkit/udpkit/wire"

// Cookies (PROTOCOL.md section 3.1). A server over a rate limit may answer
// a DATA with a NACK "rate limited" carrying a cookie: proof, once echoed,
// that this client receives at its address, so that datagrams forged with
// the address cannot lock it out. The client keeps the newest cookie and
// appends it to every unauthenticated DATA it sends afterwards
// (retransmissions included); the message that drew it is resent at once
// (Send, SendAll), as the retry the NACK asks for. An authenticated client
// never needs one: the server counts it by its key.

// keepCookie stores the server's newest cookie.
func (c *Client) keepCookie(ck wire.Cookie) {
	c.cookies.Add(1)
	c.cookie.Store(&ck)
}

// withCookie returns DATA datagram b with the stored cookie appended and
// FlagCookie set (a copy: b is the message's, resent as is), or b itself
// without a cookie, with keys, for other types, or when the cookie would
// not fit the datagram size limit.
func (c *Client) withCookie(b []byte) []byte {
	ck := c.cookie.Load()
	if ck == nil || c.auth != nil || len(b) < wire.HeaderLen || wire.Type(b[3]) != wire.TypeData ||
		wire.Flags(b[4]) != 0 || len(b)+wire.CookieLen > c.cfg.maxDatagram {
		return b
	}
	out := make([]byte, len(b), len(b)+wire.CookieLen)
	copy(out, b)
	out[4] |= byte(wire.FlagCookie)
	return append(out, ck[:]...)
}
