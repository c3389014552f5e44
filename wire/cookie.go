package wire

import "errors"

// Cookies (PROTOCOL.md section 3.1, "Return routability under floods"). A
// server over its rate limit may answer an unauthenticated DATA with a
// NACK "rate limited" that carries FlagCookie and a cookie of CookieLen
// bytes instead of text: a MAC of the DATA's source address and port and
// a coarse time under a secret only the server knows. A client that
// echoes it (FlagCookie on its DATA, the cookie after the body) proves
// that it receives at that address, and the server then counts it apart
// from datagrams that only claim the address. This file places the
// fields; package udpserver makes and checks cookies.
const (
	// FlagCookie says that a cookie of CookieLen bytes ends the datagram
	// (after the body). Only DATA and NACK "rate limited" may carry it,
	// never together with FlagAuth (an authenticated sender is counted by
	// its key, which no forger holds).
	FlagCookie Flags = 0x02

	// CookieLen is the length of a cookie.
	CookieLen = 8

	// CookieNackLen is the length of a cookie NACK (a header and a
	// cookie, no text): a server sends one only in answer to a DATA at
	// least this long, so that it never amplifies.
	CookieNackLen = HeaderLen + CookieLen
)

// ErrCookie is returned by Parse for a datagram with FlagCookie that cannot
// carry a cookie: shorter than a header and a cookie, a type other than
// DATA or NACK, a NACK with another code or with text, or FlagAuth too.
var ErrCookie = errors.New("wire: cookie flag misplaced, or the cookie is cut")

// Cookie is a server's return-routability cookie.
type Cookie [CookieLen]byte

// CookieOf returns the cookie that ends datagram b when its header h (as
// Parse returned it, without error) has FlagCookie.
func CookieOf(h Header, b []byte) (Cookie, bool) {
	var c Cookie
	if h.Flags&FlagCookie == 0 || len(b) < HeaderLen+CookieLen {
		return c, false
	}
	copy(c[:], b[len(b)-CookieLen:])
	return c, true
}

// AppendCookieNack appends a NACK "rate limited" for message id that
// carries cookie c (CookieNackLen bytes).
func AppendCookieNack(dst []byte, id uint64, c Cookie) []byte {
	dst = AppendHeader(dst, Header{Type: TypeNack, Flags: FlagCookie, Code: CodeRateLimited, ID: id})
	return append(dst, c[:]...)
}

// AppendDataCookie appends a DATA message carrying payload that echoes
// cookie c.
func AppendDataCookie(dst []byte, id uint64, payload []byte, c Cookie) []byte {
	dst = Append(dst, Header{Type: TypeData, Flags: FlagCookie, ID: id}, payload)
	return append(dst, c[:]...)
}

// checkCookie applies the rules of FlagCookie to a parsed header and the
// bytes after it; it returns the body without the cookie.
func checkCookie(h Header, body []byte) ([]byte, error) {
	if h.Flags&FlagAuth != 0 || len(body) < CookieLen {
		return nil, ErrCookie
	}
	switch h.Type {
	case TypeData:
	case TypeNack:
		if h.Code != CodeRateLimited || len(body) != CookieLen {
			return nil, ErrCookie
		}
	default:
		return nil, ErrCookie
	}
	return body[:len(body)-CookieLen], nil
}

// IsPlainData reports whether datagram b is a DATA message without flags
// (neither AUTH nor COOKIE): one a client may add a cookie to.
func IsPlainData(b []byte) bool {
	return len(b) >= HeaderLen && IsMessage(b) && Type(b[3]) == TypeData && Flags(b[4]) == 0
}

// EchoCookie appends to dst the plain DATA datagram b (IsPlainData) with
// cookie c echoed: FlagCookie set and c after the body.
func EchoCookie(dst, b []byte, c Cookie) []byte {
	n := len(dst)
	dst = append(dst, b...)
	dst[n+4] |= byte(FlagCookie)
	return append(dst, c[:]...)
}
