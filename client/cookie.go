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

// A DATA shorter than wire.CookieNackLen (less than 8 bytes of payload)
// cannot draw a cookie: the cookie NACK would be longer than the request.
// So once such a DATA got NACK busy while the client held no cookie (the
// server refuses unproved senders: forgeries fill the shares or the
// table's claimed part), the client asks for one: every short
// unauthenticated DATA it sends until a cookie comes carries the
// placeholder cookie (8 zero bytes, never valid), which makes it long
// enough for a cookie NACK, and the message that drew the busy is resent
// at once (PROTOCOL.md 3.1, "Short messages").

// askCookie reports whether busy reply r to DATA datagram dg should make
// the client ask for a cookie now (the first time only: later busy
// replies are waited past as before).
func (c *Client) askCookie(r reply, dg []byte) bool {
	return r.typ == wire.TypeNack && r.code == wire.CodeBusy && !r.cookie && c.auth == nil &&
		c.cookie.Load() == nil && needsPlaceholder(dg) && !c.asking.Swap(true)
}

// needsPlaceholder reports whether DATA datagram b is too short to draw a
// cookie NACK.
func needsPlaceholder(b []byte) bool {
	return len(b) >= wire.HeaderLen && len(b) < wire.CookieNackLen && wire.Type(b[3]) == wire.TypeData && wire.Flags(b[4]) == 0
}

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
	if ck == nil && c.asking.Load() && needsPlaceholder(b) {
		ck = &wire.Cookie{} // the placeholder: asks for a cookie
	}
	if ck == nil || c.auth != nil || len(b) < wire.HeaderLen || wire.Type(b[3]) != wire.TypeData ||
		wire.Flags(b[4]) != 0 || len(b)+wire.CookieLen > c.cfg.maxDatagram {
		return b
	}
	out := make([]byte, len(b), len(b)+wire.CookieLen)
	copy(out, b)
	out[4] |= byte(wire.FlagCookie)
	return append(out, ck[:]...)
}
