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
		if !h.Type.Known() || h.Flags&^FlagAuth != 0 || (h.Type == TypeNack) != (h.Code != CodeNone) {
			t.Fatalf("Parse(%x) accepted %+v", in, h)
		}
	})
}

func trailerLen(h Header) int {
	if h.Flags&FlagAuth != 0 {
		return AuthTrailerLen
	}
	return 0
}
