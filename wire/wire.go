package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Protocol constants. PROTOCOL.md is the normative description; these
// values are the protocol and never change within version 1.
const (
	// Magic0 and Magic1 are the first two bytes of every udpkit datagram.
	// 0xFA never occurs in UTF-8 text, so a datagram that starts with it is
	// never a line of text from nc or a script.
	Magic0 = 0xFA
	Magic1 = 0x4B

	// Version is the protocol version this package speaks.
	Version = 1

	// HeaderLen is the length of the fixed header in bytes.
	HeaderLen = 16

	// TagLen is the length of the authentication tag that ends the
	// datagram when FlagAuth is set (after the freshness fields: see
	// AuthTrailerLen).
	TagLen = 16

	// MaxDatagram is the largest UDP payload over IPv4 (65535 - 20 - 8).
	MaxDatagram = 65507

	// DefaultMaxDatagram is the largest datagram a udpkit peer sends by
	// default: one Ethernet frame without fragmentation (1500 - 20 - 8).
	// RFC 8085, section 3.2, asks UDP applications to avoid fragmentation.
	DefaultMaxDatagram = 1472
)

// Type is the message type carried in byte 3 of the header.
// Only append: the numbers are the protocol.
type Type uint8

// Message types.
const (
	TypeData     Type = 0x01 // application payload; answered by Ack or Nack
	TypeAck      Type = 0x02 // the Data message with this ID was handled
	TypeNack     Type = 0x03 // the Data message with this ID was refused; Code says why
	TypePing     Type = 0x04 // liveness probe; answered by Pong, handler not run
	TypePong     Type = 0x05 // answer to Ping; echoes the Ping's body
	TypeQuery    Type = 0x10 // discovery: who offers this service?
	TypeAnnounce Type = 0x11 // discovery: unsolicited announcement
	TypeAnswer   Type = 0x12 // discovery: answer to a Query
	TypeGoodbye  Type = 0x13 // discovery: the instance is leaving
	TypeProbe    Type = 0x20 // multicast test: sequenced probe
	TypeReply    Type = 0x21 // multicast test: answer to a probe
)

var typeNames = [...]string{
	TypeData: "data", TypeAck: "ack", TypeNack: "nack", TypePing: "ping", TypePong: "pong",
	TypeQuery: "query", TypeAnnounce: "announce", TypeAnswer: "answer", TypeGoodbye: "goodbye",
	TypeProbe: "probe", TypeReply: "reply",
}

// Known reports whether t is a message type of protocol version 1.
func (t Type) Known() bool { return int(t) < len(typeNames) && typeNames[t] != "" }

// String returns the lower-case name of the type, or "type(0xNN)".
func (t Type) String() string {
	if t.Known() {
		return typeNames[t]
	}
	return fmt.Sprintf("type(0x%02x)", uint8(t))
}

// Flags is the flag byte of the header.
type Flags uint8

// Header flags. A version 1 receiver rejects a datagram with any other bit set.
const (
	// FlagAuth says that an authentication trailer of AuthTrailerLen bytes
	// (freshness fields and tag) ends the datagram and that KeyID names the
	// key its tag was made with.
	FlagAuth Flags = 0x01

	knownFlags = FlagAuth | FlagCookie // FlagCookie: cookie.go
)

// Code is the reason code of a Nack (byte 5 of the header); it is zero in
// every other message type. Only append: the numbers are the protocol.
type Code uint8

// Reason codes.
const (
	CodeNone        Code = 0 // not a Nack
	CodeRejected    Code = 1 // the application's handler refused the message
	CodeTooLarge    Code = 2 // the message is larger than the server accepts
	CodeUnsupported Code = 3 // the server does not handle this message type
	CodeBusy        Code = 4 // the server is shutting down or overloaded; try later
	CodeRateLimited Code = 5 // the sender exceeded its rate limit
)

var codeNames = [...]string{
	CodeNone: "none", CodeRejected: "rejected", CodeTooLarge: "too large",
	CodeUnsupported: "unsupported", CodeBusy: "busy", CodeRateLimited: "rate limited",
}

// String returns a short human description of the code.
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// Errors returned by Parse and the body parsers. Parse returns them bare
// (no wrapping, no allocation), so that a flood of malformed datagrams
// costs nothing; Explain returns the same sentinel wrapped with detail for
// a debug log. Test with errors.Is.
var (
	ErrShort     = errors.New("wire: datagram shorter than the header")
	ErrMagic     = errors.New("wire: not a udpkit datagram (bad magic)")
	ErrVersion   = errors.New("wire: unsupported protocol version")
	ErrType      = errors.New("wire: unknown message type")
	ErrFlags     = errors.New("wire: unknown flag bits set")
	ErrReserved  = errors.New("wire: reserved field not zero")
	ErrCode      = errors.New("wire: reason code not allowed for this type")
	ErrBody      = errors.New("wire: body not allowed for this type")
	ErrMalformed = errors.New("wire: malformed body")
	// ErrTrailer: FlagAuth is set but fewer than AuthTrailerLen bytes follow
	// the header (PROTOCOL.md section 5): the datagram was cut.
	ErrTrailer = errors.New("wire: authentication trailer missing or cut")
)

// Header is the fixed 16-byte header that starts every udpkit datagram.
//
//	 0      2      3      4      5      6             8                     16
//	+------+------+------+------+------+-------------+---------------------+
//	| magic| ver  | type | flags| code |    key ID   |     message ID      |
//	+------+------+------+------+------+-------------+---------------------+
type Header struct {
	Type  Type
	Flags Flags
	Code  Code
	KeyID uint16 // zero unless FlagAuth is set
	ID    uint64
}

// IsMessage reports whether b starts with the udpkit magic. It is the cheap
// classifier that splits protocol traffic from raw text; a datagram that
// passes it may still fail Parse.
func IsMessage(b []byte) bool {
	return len(b) >= 2 && b[0] == Magic0 && b[1] == Magic1
}

// AppendHeader appends the encoding of h to dst and returns the result.
func AppendHeader(dst []byte, h Header) []byte {
	dst = append(dst, Magic0, Magic1, Version, byte(h.Type), byte(h.Flags), byte(h.Code))
	dst = binary.BigEndian.AppendUint16(dst, h.KeyID)
	return binary.BigEndian.AppendUint64(dst, h.ID)
}

// Append appends a whole message (header and body) to dst.
func Append(dst []byte, h Header, body []byte) []byte {
	return append(AppendHeader(dst, h), body...)
}

// Parse decodes the header of datagram b and returns it with the body that
// follows it (a sub-slice of b, not a copy). When FlagAuth is set, the body
// ends before the authentication trailer (AuthTrailerLen bytes: freshness
// fields and tag, PROTOCOL.md section 5), which Parse checks only for
// presence; ParseAuth returns its fields and package auth checks the tag.
// When FlagCookie is set (cookie.go), the body ends before the cookie,
// which CookieOf returns. Parse never allocates: its errors
// are the bare sentinels (ErrShort, ErrMagic, ...); Explain says more. It
// checks everything that can be checked without a key: magic, version,
// type, flags, reserved fields and the per-type rules of PROTOCOL.md.
//
// When it fails after the version check, the returned Header still holds
// the fields as read, so that a receiver can count the failure by type.
func Parse(b []byte) (Header, []byte, error) {
	var h Header
	if len(b) < HeaderLen {
		if len(b) >= 2 && !IsMessage(b) {
			return h, nil, ErrMagic
		}
		return h, nil, ErrShort
	}
	if !IsMessage(b) {
		return h, nil, ErrMagic
	}
	if b[2] != Version {
		return h, nil, ErrVersion
	}
	h.Type = Type(b[3])
	h.Flags = Flags(b[4])
	h.Code = Code(b[5])
	h.KeyID = binary.BigEndian.Uint16(b[6:8])
	h.ID = binary.BigEndian.Uint64(b[8:16])
	if !h.Type.Known() {
		return h, nil, ErrType
	}
	if h.Flags&^knownFlags != 0 {
		return h, nil, ErrFlags
	}
	body := b[HeaderLen:]
	if h.Flags&FlagCookie != 0 {
		var err error
		if body, err = checkCookie(h, body); err != nil {
			return h, nil, err
		}
	}
	if h.Flags&FlagAuth != 0 {
		if len(body) < AuthTrailerLen {
			return h, nil, ErrTrailer
		}
		body = body[:len(body)-AuthTrailerLen]
	} else if h.KeyID != 0 {
		return h, nil, ErrReserved
	}
	if (h.Type == TypeNack) != (h.Code != CodeNone) {
		return h, nil, ErrCode
	}
	if h.Type == TypeAck && len(body) != 0 {
		return h, nil, ErrBody
	}
	return h, body, nil
}

// Explain returns nil when Parse accepts b, and otherwise the error of
// Parse wrapped with what exactly is wrong, for debug logs. It allocates;
// call it only on a datagram already known to be malformed.
func Explain(b []byte) error {
	h, _, err := Parse(b)
	switch err {
	case nil:
		return nil
	case ErrShort:
		return fmt.Errorf("%w: %d bytes, need %d", err, len(b), HeaderLen)
	case ErrTrailer:
		return fmt.Errorf("%w: %d bytes after the header, need at least %d", err, len(b)-HeaderLen, AuthTrailerLen)
	case ErrCookie:
		return fmt.Errorf("%w: flags 0x%02x on %v (code %d), %d bytes after the header", err, uint8(h.Flags), h.Type, h.Code, len(b)-HeaderLen)
	case ErrVersion:
		return fmt.Errorf("%w: %d (this peer speaks %d)", err, b[2], Version)
	case ErrType:
		return fmt.Errorf("%w: 0x%02x", err, uint8(h.Type))
	case ErrFlags:
		return fmt.Errorf("%w: 0x%02x", err, uint8(h.Flags&^knownFlags))
	case ErrReserved:
		return fmt.Errorf("%w: key ID %d without the auth flag", err, h.KeyID)
	case ErrCode:
		if h.Type == TypeNack {
			return fmt.Errorf("%w: nack without a reason", err)
		}
		return fmt.Errorf("%w: code %d on %v", err, h.Code, h.Type)
	case ErrBody:
		n := len(b) - HeaderLen
		if h.Flags&FlagAuth != 0 {
			n -= AuthTrailerLen
		}
		return fmt.Errorf("%w: %d bytes after an ack", err, n)
	}
	return err
}

// AppendData appends a Data message carrying payload.
func AppendData(dst []byte, id uint64, payload []byte) []byte {
	return Append(dst, Header{Type: TypeData, ID: id}, payload)
}

// AppendAck appends the Ack for message id.
func AppendAck(dst []byte, id uint64) []byte {
	return AppendHeader(dst, Header{Type: TypeAck, ID: id})
}

// AppendNack appends a Nack for message id with reason code and an optional
// UTF-8 explanation. The explanation is cut so that the whole Nack is at
// most limit bytes (a reply is never larger than its request); limit below
// HeaderLen is treated as HeaderLen.
func AppendNack(dst []byte, id uint64, code Code, text string, limit int) []byte {
	room := limit - HeaderLen
	if room < 0 {
		room = 0
	}
	text = TruncateUTF8(text, room)
	dst = AppendHeader(dst, Header{Type: TypeNack, Code: code, ID: id})
	return append(dst, text...)
}

// TruncateUTF8 cuts s to at most n bytes without splitting a UTF-8
// sequence: how every udpkit text that must fit a size is shortened. A
// negative n is taken as 0.
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
