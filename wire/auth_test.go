package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseAuth(t *testing.T) {
	fr := Freshness{Sender: 0x0102030405060708, Counter: 9, Time: 1796083200000}
	tag := bytes.Repeat([]byte{0xA5}, TagLen)
	seal := func(h Header, body []byte) []byte {
		h.Flags |= FlagAuth
		return append(AppendFreshness(Append(nil, h, body), fr), tag...)
	}
	tests := []struct {
		name string
		in   []byte
		h    Header
		body string
		err  error
	}{
		{"data", seal(Header{Type: TypeData, KeyID: 7, ID: 3}, []byte("hi")), Header{Type: TypeData, Flags: FlagAuth, KeyID: 7, ID: 3}, "hi", nil},
		{"ack", seal(Header{Type: TypeAck, KeyID: 1, ID: 3}, nil), Header{Type: TypeAck, Flags: FlagAuth, KeyID: 1, ID: 3}, "", nil},
		{"nack", seal(Header{Type: TypeNack, Code: CodeBusy, ID: 3}, []byte("x")), Header{Type: TypeNack, Flags: FlagAuth, Code: CodeBusy, ID: 3}, "x", nil},
		{"ack with a body", seal(Header{Type: TypeAck, ID: 3}, []byte{0}), Header{}, "", ErrBody},
		{"nack without code", seal(Header{Type: TypeNack, ID: 3}, nil), Header{}, "", ErrCode},
		{"not authenticated", AppendData(nil, 1, make([]byte, 60)), Header{}, "", ErrNotAuth},
		{"trailer short by one", seal(Header{Type: TypeAck, ID: 3}, nil)[:MinAuthLen-1], Header{}, "", ErrTrailer},
		{"version 1 tag only", Append(nil, Header{Type: TypeData, Flags: FlagAuth, ID: 1}, tag), Header{}, "", ErrTrailer},
		{"short", []byte{0xfa, 0x4b, 1}, Header{}, "", ErrShort},
		{"text", []byte("hello, this is not a udpkit datagram at all, it is text"), Header{}, "", ErrMagic},
		{"bad version", func() []byte { b := seal(Header{Type: TypeData}, nil); b[2] = 2; return b }(), Header{}, "", ErrVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, body, f, gotTag, err := ParseAuth(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h != tt.h || string(body) != tt.body || f != fr || !bytes.Equal(gotTag, tag) {
				t.Errorf("got %+v %q %+v %x", h, body, f, gotTag)
			}
		})
	}
}

func TestSetAuth(t *testing.T) {
	b := AppendData(nil, 3, []byte("hi"))
	SetAuth(b, 0x0107)
	b = append(AppendFreshness(b, Freshness{1, 2, 3}), make([]byte, TagLen)...)
	h, body, f, _, err := ParseAuth(b)
	if err != nil || h != (Header{Type: TypeData, Flags: FlagAuth, KeyID: 0x0107, ID: 3}) || string(body) != "hi" || f != (Freshness{1, 2, 3}) {
		t.Fatalf("%+v %q %+v %v", h, body, f, err)
	}
}

func FuzzParseAuth(f *testing.F) {
	f.Add(append(AppendFreshness(Append(nil, Header{Type: TypeData, Flags: FlagAuth, KeyID: 7, ID: 3}, []byte("hi")), Freshness{1, 2, 3}), make([]byte, TagLen)...))
	f.Add(append(AppendFreshness(AppendHeader(nil, Header{Type: TypeAck, Flags: FlagAuth, ID: 3}), Freshness{1, 2, 3}), make([]byte, TagLen)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, body, fr, tag, err := ParseAuth(b)
		if err != nil {
			return
		}
		if h.Flags&FlagAuth == 0 || len(tag) != TagLen || len(b) != HeaderLen+len(body)+AuthTrailerLen {
			t.Fatalf("ParseAuth(%x) = %+v, %d-byte body, %d-byte tag", b, h, len(body), len(tag))
		}
		// Re-encoding the parts gives the datagram back.
		again := append(AppendFreshness(Append(nil, h, body), fr), tag...)
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, want %x", again, b)
		}
	})
}
