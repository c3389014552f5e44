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
// So while the client holds no cookie, every second transmission of such
// a DATA (the 2nd, 4th, 6th) asks for one with the placeholder cookie (8
// zero bytes, never valid), which makes it long enough for a cookie NACK
// (PROTOCOL.md 3.1, "Short messages"); and a NACK busy or rate limited
// for an odd-numbered (plain) transmission is answered at once with the
// next one. The odd ones stay plain: a server that predates cookies drops
// a DATA with flag COOKIE, and still gets every other copy.

// placeholderAt reports whether transmission attempt (1 for the first) of
// DATA datagram b carries the placeholder.
func placeholderAt(b []byte, attempt int) bool {
	return attempt%2 == 0 && len(b) < wire.CookieNackLen && wire.IsPlainData(b)
}

// askCookie reports whether reply r (NACK busy or rate limited) to DATA
// datagram dg, transmitted attempts times, should be answered at once by
// the next transmission, which asks for a cookie.
func (c *Client) askCookie(r reply, dg []byte, attempts int) bool {
	return r.typ == wire.TypeNack && congestion(r.code) && !r.cookie && c.auth == nil &&
		c.cookie.Load() == nil && placeholderAt(dg, attempts+1)
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
func (c *Client) withCookie(b []byte, attempt int) []byte {
	ck := c.cookie.Load()
	if ck == nil && placeholderAt(b, attempt) {
		ck = &wire.Cookie{} // the placeholder: asks for a cookie
	}
	if ck == nil || c.auth != nil || !wire.IsPlainData(b) || len(b)+wire.CookieLen > c.cfg.maxDatagram {
		return b
	}
	return wire.EchoCookie(make([]byte, 0, len(b)+wire.CookieLen), b, *ck)
}
