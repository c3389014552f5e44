package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// FuzzParse checks that Parse never panics, that a successful parse returns
// a body inside its input and a header that re-encodes to the input's first
// 16 bytes, and that every failure is one of the sentinel errors.
func FuzzParse(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.in)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 32 {
		b := make([]byte, r.IntN(64))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if len(b) >= 3 && r.IntN(2) == 0 {
			b[0], b[1], b[2] = Magic0, Magic1, Version // get past the first checks
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h, body, err := Parse(in)
		if err != nil {
			if body != nil {
				t.Errorf("body %x with error %v", body, err)
			}
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("Parse(%x) error %v is not a sentinel", in, err)
		}
		if want := len(in) - HeaderLen - trailerLen(h); len(body) != want {
			t.Fatalf("Parse(%x): body %d bytes, want %d", in, len(body), want)
		}
		// Same length and same first element: body is in[HeaderLen:][:len(body)].
		if len(body) > 0 && &body[0] != &in[HeaderLen] {
			t.Fatalf("Parse(%x): body is not the sub-slice at offset %d of the input", in, HeaderLen)
		}
		if re := AppendHeader(nil, h); !bytes.Equal(re, in[:HeaderLen]) {
			t.Fatalf("AppendHeader(Parse(%x)) = %x", in, re)
		}
		if !h.Type.Known() || h.Flags&^(FlagAuth|FlagCookie) != 0 || h.Flags == FlagAuth|FlagCookie || (h.Type == TypeNack) != (h.Code != CodeNone) {
			t.Fatalf("Parse(%x) accepted %+v", in, h)
		}
	})
}

func trailerLen(h Header) int {
	if h.Flags&FlagAuth != 0 {
		return AuthTrailerLen
	}
	if h.Flags&FlagCookie != 0 {
		return CookieLen
	}
	return 0
}

// FuzzCookie: whatever Parse accepts with FlagCookie is a DATA, or a NACK
// "rate limited" of exactly CookieNackLen bytes, without FlagAuth, and
// CookieOf returns its last CookieLen bytes; the encoders round-trip.
func FuzzCookie(f *testing.F) {
	f.Add(AppendCookieNack(nil, 1, Cookie{1, 2, 3}), uint64(1), []byte("x"))
	f.Add(AppendDataCookie(nil, 9, []byte("hi"), Cookie{9}), uint64(9), []byte{})
	f.Add([]byte{Magic0, Magic1, Version, byte(TypeData), byte(FlagCookie)}, uint64(0), []byte("payload"))
	f.Fuzz(func(t *testing.T, in []byte, id uint64, payload []byte) {
		h, body, err := Parse(in)
		if err == nil && h.Flags&FlagCookie != 0 {
			c, ok := CookieOf(h, in)
			if !ok || !bytes.Equal(c[:], in[len(in)-CookieLen:]) || h.Flags&FlagAuth != 0 {
				t.Fatalf("Parse(%x) accepted %+v, cookie %x %v", in, h, c, ok)
			}
			if h.Type == TypeNack && (h.Code != CodeRateLimited || len(in) != CookieNackLen || len(body) != 0) || h.Type != TypeNack && h.Type != TypeData {
				t.Fatalf("Parse(%x) accepted %+v body %q", in, h, body)
			}
		}
		var c Cookie
		copy(c[:], in)
		d := AppendDataCookie(nil, id, payload, c)
		h, body, err = Parse(d)
		if got, ok := CookieOf(h, d); err != nil || h.ID != id || !bytes.Equal(body, payload) || !ok || got != c {
			t.Fatalf("AppendDataCookie round trip: %+v %q %v %x", h, body, err, got)
		}
		n := AppendCookieNack(nil, id, c)
		h, body, err = Parse(n)
		if got, ok := CookieOf(h, n); err != nil || len(n) != CookieNackLen || h.Code != CodeRateLimited || len(body) != 0 || !ok || got != c {
			t.Fatalf("AppendCookieNack round trip: %+v %q %v %x", h, body, err, got)
		}
	})
}
