package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

const testID = 0x0123456789abcdef

// msg builds a datagram byte by byte, independently of AppendHeader, so that
// Parse is checked against PROTOCOL.md rather than against the encoder.
func msg(ver, typ, flags, code byte, key uint16, id uint64, body ...byte) []byte {
	b := []byte{Magic0, Magic1, ver, typ, flags, code, byte(key >> 8), byte(key)}
	for i := 56; i >= 0; i -= 8 {
		b = append(b, byte(id>>i))
	}
	return append(b, body...)
}

func tag() []byte { return bytes.Repeat([]byte{0xA5}, AuthTrailerLen) } // a placeholder trailer

func TestParseValid(t *testing.T) {
	withTag := func(b []byte) []byte { return append(b, tag()...) }
	tests := []struct {
		name string
		in   []byte
		want Header
		body string
	}{
		{"data", msg(1, 0x01, 0, 0, 0, testID, []byte("hello")...), Header{Type: TypeData, ID: testID}, "hello"},
		{"data empty", msg(1, 0x01, 0, 0, 0, 1), Header{Type: TypeData, ID: 1}, ""},
		{"ack", msg(1, 0x02, 0, 0, 0, testID), Header{Type: TypeAck, ID: testID}, ""},
		{"nack rejected", msg(1, 0x03, 0, 1, 0, 7, []byte("no")...), Header{Type: TypeNack, Code: CodeRejected, ID: 7}, "no"},
		{"nack no text", msg(1, 0x03, 0, 5, 0, 7), Header{Type: TypeNack, Code: CodeRateLimited, ID: 7}, ""},
		{"nack unknown code", msg(1, 0x03, 0, 200, 0, 7), Header{Type: TypeNack, Code: 200, ID: 7}, ""},
		{"ping", msg(1, 0x04, 0, 0, 0, 9, 0, 1, 2), Header{Type: TypePing, ID: 9}, "\x00\x01\x02"},
		{"pong", msg(1, 0x05, 0, 0, 0, 9, 0, 1, 2), Header{Type: TypePong, ID: 9}, "\x00\x01\x02"},
		{"query", msg(1, 0x10, 0, 0, 0, 0, 'q'), Header{Type: TypeQuery}, "q"},
		{"announce", msg(1, 0x11, 0, 0, 0, 0), Header{Type: TypeAnnounce}, ""},
		{"answer", msg(1, 0x12, 0, 0, 0, 0), Header{Type: TypeAnswer}, ""},
		{"goodbye", msg(1, 0x13, 0, 0, 0, 0), Header{Type: TypeGoodbye}, ""},
		{"probe", msg(1, 0x20, 0, 0, 0, ^uint64(0)), Header{Type: TypeProbe, ID: ^uint64(0)}, ""},
		{"reply", msg(1, 0x21, 0, 0, 0, 0), Header{Type: TypeReply}, ""},
		{"data auth", withTag(msg(1, 0x01, 0x01, 0, 7, 3, []byte("hi")...)), Header{Type: TypeData, Flags: FlagAuth, KeyID: 7, ID: 3}, "hi"},
		{"data auth key 0", withTag(msg(1, 0x01, 0x01, 0, 0, 3)), Header{Type: TypeData, Flags: FlagAuth, ID: 3}, ""},
		{"ack auth", withTag(msg(1, 0x02, 0x01, 0, 0xffff, 3)), Header{Type: TypeAck, Flags: FlagAuth, KeyID: 0xffff, ID: 3}, ""},
		{"nack auth", withTag(msg(1, 0x03, 0x01, 2, 1, 3, []byte("x")...)), Header{Type: TypeNack, Flags: FlagAuth, Code: CodeTooLarge, KeyID: 1, ID: 3}, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, body, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%x) = %v", tt.in, err)
			}
			if h != tt.want {
				t.Errorf("header = %+v, want %+v", h, tt.want)
			}
			if string(body) != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if !IsMessage(tt.in) {
				t.Errorf("IsMessage = false")
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	long := func(b []byte) []byte { return append(b, make([]byte, 20)...) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"nil", nil, ErrShort},
		{"empty", []byte{}, ErrShort},
		{"one magic byte", []byte{Magic0}, ErrShort},
		{"one text byte", []byte{'h'}, ErrShort},
		{"short with magic", []byte{Magic0, Magic1, 1, 1}, ErrShort},
		{"15 bytes with magic", msg(1, 1, 0, 0, 0, 0)[:15], ErrShort},
		{"short without magic", []byte("hi\n"), ErrMagic},
		{"short half magic", []byte{Magic0, 'k'}, ErrMagic},
		{"bad second magic byte", append([]byte{Magic0, 0x4C}, msg(1, 1, 0, 0, 0, 0)[2:]...), ErrMagic},
		{"bad first magic byte", append([]byte{0xFB, Magic1}, msg(1, 1, 0, 0, 0, 0)[2:]...), ErrMagic},
		{"text", []byte("hello, world, how are you?\n"), ErrMagic},
		{"version 0", msg(0, 1, 0, 0, 0, 1), ErrVersion},
		{"version 2", msg(2, 1, 0, 0, 0, 1), ErrVersion},
		{"version 255", long(msg(255, 1, 0, 0, 0, 1)), ErrVersion},
		{"type 0", msg(1, 0x00, 0, 0, 0, 1), ErrType},
		{"type 6", msg(1, 0x06, 0, 0, 0, 1), ErrType},
		{"type 0x14", msg(1, 0x14, 0, 0, 0, 1), ErrType},
		{"type 0x22", msg(1, 0x22, 0, 0, 0, 1), ErrType},
		{"type 0xff", msg(1, 0xff, 0, 0, 0, 1), ErrType},
		{"flag 0x04", msg(1, 1, 0x04, 0, 0, 1), ErrFlags},
		{"cookie flag, no cookie", msg(1, 1, 0x02, 0, 0, 1), ErrCookie},
		{"cookie flag on pong", msg(1, 5, 0x02, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8), ErrCookie},
		{"flag 0x80", msg(1, 1, 0x80, 0, 0, 1), ErrFlags},
		{"flags auth and 0x40", long(msg(1, 1, 0x41, 0, 0, 1)), ErrFlags},
		{"key id without auth", msg(1, 1, 0, 0, 7, 1, []byte("hi")...), ErrReserved},
		{"key id 0x8000 without auth", msg(1, 2, 0, 0, 0x8000, 1), ErrReserved},
		{"auth no room for tag", msg(1, 1, 0x01, 0, 7, 1), ErrTrailer},
		{"auth 15-byte tag", msg(1, 1, 0x01, 0, 7, 1, make([]byte, 15)...), ErrTrailer},
		{"auth 39-byte trailer", msg(1, 1, 0x01, 0, 7, 1, make([]byte, AuthTrailerLen-1)...), ErrTrailer},
		{"code on data", msg(1, 0x01, 0, 1, 0, 1), ErrCode},
		{"code on ack", msg(1, 0x02, 0, 2, 0, 1), ErrCode},
		{"code on ping", msg(1, 0x04, 0, 3, 0, 1), ErrCode},
		{"code on pong", msg(1, 0x05, 0, 4, 0, 1), ErrCode},
		{"code on query", msg(1, 0x10, 0, 1, 0, 1), ErrCode},
		{"code on auth data", msg(1, 0x01, 0x01, 1, 0, 1, tag()...), ErrCode},
		{"nack code 0", msg(1, 0x03, 0, 0, 0, 1, []byte("why")...), ErrCode},
		{"ack with body", msg(1, 0x02, 0, 0, 0, 1, 0), ErrBody},
		{"auth ack with body", append(msg(1, 0x02, 0x01, 0, 1, 1, 'x'), tag()...), ErrBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, body, err := Parse(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse(%x) error = %v, want %v", tt.in, err, tt.want)
			}
			if body != nil {
				t.Errorf("body = %x on error, want nil", body)
			}
			if !strings.HasPrefix(err.Error(), "wire: ") {
				t.Errorf("error %q does not start with the package name", err)
			}
			_ = h
		})
	}
}

// The auth flag is valid, so a datagram of exactly MinAuthLen bytes with
// AUTH set has an empty body, not an error.
func TestParseAuthExactTag(t *testing.T) {
	in := append(msg(1, 1, 0x01, 0, 1, 1), tag()...)
	h, body, err := Parse(in)
	if err != nil || len(body) != 0 || h.Flags != FlagAuth {
		t.Fatalf("Parse = %+v, %x, %v", h, body, err)
	}
}

func TestRoundTrip(t *testing.T) {
	headers := []Header{
		{Type: TypeData, ID: 0},
		{Type: TypeData, ID: testID},
		{Type: TypeAck, ID: ^uint64(0)},
		{Type: TypeNack, Code: CodeBusy, ID: 1},
		{Type: TypePing, ID: 42},
		{Type: TypePong, ID: 42},
		{Type: TypeQuery}, {Type: TypeAnnounce}, {Type: TypeAnswer}, {Type: TypeGoodbye},
		{Type: TypeProbe, ID: 5}, {Type: TypeReply, ID: 5},
		{Type: TypeData, Flags: FlagAuth, KeyID: 0xbeef, ID: 77},
	}
	bodies := [][]byte{nil, []byte("x"), bytes.Repeat([]byte{0xFA}, 300)}
	prefix := []byte("prefix")
	for _, h := range headers {
		for _, body := range bodies {
			if h.Type == TypeAck && len(body) > 0 {
				continue
			}
			var b []byte
			if len(body) == 0 && h.Flags == 0 {
				// AppendHeader alone is a whole message with an empty body.
				b = AppendHeader(append([]byte(nil), prefix...), h)
			} else {
				b = Append(append([]byte(nil), prefix...), h, body)
			}
			if !bytes.HasPrefix(b, prefix) {
				t.Fatalf("%v: prefix lost: %x", h, b)
			}
			b = b[len(prefix):]
			if h.Flags&FlagAuth != 0 {
				b = append(b, tag()...)
			}
			got, gotBody, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse(Append(%+v, %q)) = %v", h, body, err)
			}
			if got != h || !bytes.Equal(gotBody, body) {
				t.Errorf("round trip %+v %q = %+v %q", h, body, got, gotBody)
			}
		}
	}
}

func TestAppendHelpers(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want []byte
	}{
		{"data", AppendData(nil, testID, []byte("hello")), msg(1, 1, 0, 0, 0, testID, []byte("hello")...)},
		{"data empty", AppendData(nil, 1, nil), msg(1, 1, 0, 0, 0, 1)},
		{"ack", AppendAck(nil, testID), msg(1, 2, 0, 0, 0, testID)},
		{"nack", AppendNack(nil, 5, CodeRejected, "no", 100), msg(1, 3, 0, 1, 0, 5, []byte("no")...)},
		{"nack appends", AppendNack([]byte{9}, 5, CodeBusy, "", 100), append([]byte{9}, msg(1, 3, 0, 4, 0, 5)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.b, tt.want) {
				t.Errorf("got %x, want %x", tt.b, tt.want)
			}
		})
	}
	// Each helper's output parses back to what it was given.
	h, body, err := Parse(AppendNack(nil, 5, CodeTooLarge, "too big", 1472))
	if err != nil || h != (Header{Type: TypeNack, Code: CodeTooLarge, ID: 5}) || string(body) != "too big" {
		t.Errorf("Parse(AppendNack) = %+v %q %v", h, body, err)
	}
}

func TestAppendNackTruncation(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		limit int
		want  string
	}{
		{"fits", "hello", 16 + 5, "hello"},
		{"room to spare", "hello", 1472, "hello"},
		{"cut ascii", "hello", 16 + 3, "hel"},
		{"limit header only", "hello", 16, ""},
		{"limit below header", "hello", 3, ""},
		{"limit zero", "hello", 0, ""},
		{"limit negative", "hello", -1, ""},
		{"two-byte rune kept", "hé", 16 + 3, "hé"},
		{"two-byte rune not split", "hé", 16 + 2, "h"},
		{"three-byte rune not split", "a€b", 16 + 3, "a"},
		{"three-byte rune not split 2", "a€b", 16 + 2, "a"},
		{"three-byte rune kept", "a€b", 16 + 4, "a€"},
		{"four-byte rune not split", "😀😀", 16 + 7, "😀"},
		{"four-byte rune only", "😀", 16 + 3, ""},
		{"empty text", "", 16, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendNack(nil, 1, CodeRejected, tt.text, tt.limit)
			lim := max(tt.limit, HeaderLen)
			if len(b) > lim {
				t.Errorf("len = %d, limit %d", len(b), lim)
			}
			h, body, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			if h.Code != CodeRejected || h.ID != 1 {
				t.Errorf("header = %+v", h)
			}
			if string(body) != tt.want {
				t.Errorf("text = %q, want %q", body, tt.want)
			}
			if !utf8.Valid(body) {
				t.Errorf("text %x is not valid UTF-8", body)
			}
		})
	}
}

// Every cut of a long multilingual text at every limit is valid UTF-8 and a
// prefix of the text, as long as the limit allows.
func TestAppendNackTruncationExhaustive(t *testing.T) {
	const text = "héllo wörld € 😀 ünïcödé ✓"
	for limit := 0; limit <= HeaderLen+len(text)+1; limit++ {
		b := AppendNack(nil, 1, CodeRejected, text, limit)
		body := b[HeaderLen:]
		if len(b) > max(limit, HeaderLen) || !utf8.Valid(body) || !strings.HasPrefix(text, string(body)) {
			t.Fatalf("limit %d: %q (%d bytes)", limit, body, len(b))
		}
		// The cut drops at most one rune's worth of bytes beyond the limit.
		if room := limit - HeaderLen; room > 0 && room <= len(text) && room-len(body) >= utf8.UTFMax {
			t.Fatalf("limit %d: cut too much: %q", limit, body)
		}
	}
}

func TestTypeString(t *testing.T) {
	tests := []struct {
		t     Type
		want  string
		known bool
	}{
		{TypeData, "data", true}, {TypeAck, "ack", true}, {TypeNack, "nack", true},
		{TypePing, "ping", true}, {TypePong, "pong", true}, {TypeQuery, "query", true},
		{TypeAnnounce, "announce", true}, {TypeAnswer, "answer", true}, {TypeGoodbye, "goodbye", true},
		{TypeProbe, "probe", true}, {TypeReply, "reply", true},
		{0, "type(0x00)", false}, {0x06, "type(0x06)", false}, {0x14, "type(0x14)", false},
		{0x22, "type(0x22)", false}, {0xff, "type(0xff)", false},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("Type(%#x).String() = %q, want %q", uint8(tt.t), got, tt.want)
		}
		if got := tt.t.Known(); got != tt.known {
			t.Errorf("Type(%#x).Known() = %v, want %v", uint8(tt.t), got, tt.known)
		}
	}
}

func TestCodeString(t *testing.T) {
	tests := []struct {
		c    Code
		want string
	}{
		{CodeNone, "none"}, {CodeRejected, "rejected"}, {CodeTooLarge, "too large"},
		{CodeUnsupported, "unsupported"}, {CodeBusy, "busy"}, {CodeRateLimited, "rate limited"},
		{6, "code(6)"}, {255, "code(255)"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Code(%d).String() = %q, want %q", uint8(tt.c), got, tt.want)
		}
	}
}

func TestIsMessage(t *testing.T) {
	tests := []struct {
		in   []byte
		want bool
	}{
		{nil, false}, {[]byte{Magic0}, false}, {[]byte{Magic0, Magic1}, true},
		{[]byte{Magic0, 0}, false}, {[]byte("hi"), false}, {msg(9, 9, 9, 9, 9, 9), true},
	}
	for _, tt := range tests {
		if got := IsMessage(tt.in); got != tt.want {
			t.Errorf("IsMessage(%x) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	inputs := [][]byte{
		AppendData(nil, testID, []byte("hello")),
		AppendAck(nil, testID),
		AppendNack(nil, testID, CodeRejected, "no", 100),
		append(msg(1, 1, 0x01, 0, 7, 1, []byte("hi")...), tag()...),
	}
	for _, in := range inputs {
		allocs := testing.AllocsPerRun(100, func() {
			if _, _, err := Parse(in); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Parse(%x) allocates %.1f times per call, want 0", in, allocs)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	in := AppendData(nil, testID, make([]byte, 120))
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, err := Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendAck(b *testing.B) {
	buf := make([]byte, 0, HeaderLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAck(buf[:0], testID)
	}
}
