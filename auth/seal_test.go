package auth

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

func TestSealOpen(t *testing.T) {
	kr := testKeyring(t)
	clock := vectorTime
	s, err := NewSender(kr, SenderConfig{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID() == 0 {
		t.Fatal("sender ID 0")
	}
	buf := make([]byte, 0, 256)
	for i, msg := range [][]byte{
		wire.AppendData(nil, 9, []byte("payload")),
		wire.AppendAck(nil, 9),
		wire.AppendNack(nil, 9, wire.CodeBusy, "", 16),
	} {
		b, err := s.Sign(append(buf[:0], msg...))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != len(msg)+wire.AuthTrailerLen {
			t.Fatalf("sealed %d bytes into %d", len(msg), len(b))
		}
		h, body, f, err := kr.Open(b)
		if err != nil {
			t.Fatal(err)
		}
		ph, pbody, _ := wire.Parse(msg)
		ph.Flags, ph.KeyID = wire.FlagAuth, 7
		if h != ph || !bytes.Equal(body, pbody) {
			t.Errorf("opened %+v %q, want %+v %q", h, body, ph, pbody)
		}
		want := wire.Freshness{Sender: s.ID(), Counter: uint64(i + 1), Time: uint64(clock.UnixMilli())}
		if f != want {
			t.Errorf("freshness %+v, want %+v", f, want)
		}
	}
	// Replies are signed with the request's key.
	b, err := s.SignWith(wire.AppendAck(nil, 1), 6)
	if err != nil {
		t.Fatal(err)
	}
	if h, _, _, err := kr.Open(b); err != nil || h.KeyID != 6 {
		t.Errorf("SignWith(6): key %d, %v", h.KeyID, err)
	}
	if _, err := s.SignWith(wire.AppendAck(nil, 1), 8); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("SignWith unknown key: %v", err)
	}
	// Sealing twice, or sealing garbage, fails.
	if _, err := s.Sign(b); !errors.Is(err, ErrSealed) && !errors.Is(err, wire.ErrBody) {
		t.Errorf("sealing a sealed datagram: %v", err)
	}
	d, _ := s.Sign(wire.AppendData(nil, 1, []byte("x")))
	if _, err := s.Sign(d); !errors.Is(err, ErrSealed) {
		t.Errorf("sealing a sealed data: %v", err)
	}
	if _, err := s.Sign([]byte("hello")); !errors.Is(err, wire.ErrMagic) {
		t.Errorf("sealing text: %v", err)
	}
	// Another keyring with the same key IDs but other secrets refuses it.
	other, _ := ParseKeyFile([]byte("current 7 " + hexB))
	if _, _, _, err := other.Open(d); !errors.Is(err, ErrBadTag) {
		t.Errorf("other secret: %v", err)
	}
}

// A receiver with keys drops every datagram that is not authenticated with
// one of them, whatever its shape.
func TestOpenRefuses(t *testing.T) {
	kr := testKeyring(t)
	for _, b := range [][]byte{
		nil, {0xfa}, []byte("raw text datagram"),
		wire.AppendData(nil, 1, []byte("plain")),
		wire.Append(nil, wire.Header{Type: wire.TypeData, Flags: wire.FlagAuth, KeyID: 7, ID: 1}, make([]byte, 16)), // version 1 "tag" only
		wire.Append(nil, wire.Header{Type: wire.TypeData, Flags: wire.FlagAuth, KeyID: 7, ID: 1}, make([]byte, 40)), // zero trailer
	} {
		if _, _, _, err := kr.Open(b); err == nil {
			t.Errorf("Open(%x) succeeded", b)
		}
	}
}

func TestSenderCounterExhausted(t *testing.T) {
	s, _ := NewSender(testKeyring(t), SenderConfig{ID: 1})
	s.ctr.Store(1<<64 - 3)
	if _, err := s.Sign(wire.AppendAck(nil, 1)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Sign(wire.AppendAck(nil, 1)); !errors.Is(err, ErrCounterExhausted) {
			t.Fatalf("err = %v, want ErrCounterExhausted", err)
		}
	}
}

// Verification of a known sender's datagram does not allocate, and neither
// does the refusal of a bad tag (a flood of them must stay cheap).
func TestVerifyAllocs(t *testing.T) {
	kr := testKeyring(t)
	clock := vectorTime
	now := func() time.Time { return clock }
	s, _ := NewSender(kr, SenderConfig{Now: now})
	r := NewReceiver(kr, ReplayConfig{Now: now})
	msgs := make([][]byte, 200)
	for i := range msgs {
		msgs[i], _ = s.Sign(wire.AppendData(make([]byte, 0, 1472), uint64(i), bytes.Repeat([]byte{'x'}, 100)))
	}
	if _, err := r.Verify(msgs[0]); err != nil { // first sight of the sender allocates its window
		t.Fatal(err)
	}
	i := 1
	if a := testing.AllocsPerRun(100, func() {
		if _, err := r.Verify(msgs[i]); err != nil {
			t.Fatal(err)
		}
		i++
	}); a != 0 {
		t.Errorf("Verify: %v allocations, want 0", a)
	}
	bad := bytes.Clone(msgs[0])
	bad[20] ^= 1
	if a := testing.AllocsPerRun(100, func() {
		if _, err := r.Verify(bad); err != ErrBadTag {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Verify of a bad tag: %v allocations, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() {
		if _, err := r.Verify(msgs[5]); err != ErrReplay {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Verify of a replay: %v allocations, want 0", a)
	}
	buf := make([]byte, 0, 1472)
	msg := wire.AppendData(nil, 1, bytes.Repeat([]byte{'x'}, 100))
	if a := testing.AllocsPerRun(100, func() {
		if _, err := s.Sign(append(buf[:0], msg...)); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Sign: %v allocations, want 0", a)
	}
}

func benchmarkVerify(b *testing.B, size int) {
	kr := testKeyring(b)
	clock := vectorTime
	now := func() time.Time { return clock }
	s, _ := NewSender(kr, SenderConfig{Now: now})
	r := NewReceiver(kr, ReplayConfig{Now: now})
	payload := bytes.Repeat([]byte{'x'}, size-wire.HeaderLen-wire.AuthTrailerLen)
	// Sign b.N datagrams up front, so that each is verified once (a
	// datagram verified twice is a replay).
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i], _ = s.Sign(wire.AppendData(make([]byte, 0, size), uint64(i), payload))
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := r.Verify(msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify64(b *testing.B)   { benchmarkVerify(b, 64) }
func BenchmarkVerify1472(b *testing.B) { benchmarkVerify(b, 1472) }

func BenchmarkVerifyBadTag(b *testing.B) {
	kr := testKeyring(b)
	d := wire.Append(nil, wire.Header{Type: wire.TypeData, Flags: wire.FlagAuth, KeyID: 7, ID: 1}, make([]byte, 1472-16))
	r := NewReceiver(kr, ReplayConfig{})
	b.SetBytes(int64(len(d)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Verify(d); err != ErrBadTag {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign64(b *testing.B) {
	s, _ := NewSender(testKeyring(b), SenderConfig{})
	msg := wire.AppendData(nil, 1, make([]byte, 64-wire.HeaderLen-wire.AuthTrailerLen))
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(append(buf[:0], msg...)); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	kr := testKeyring(f)
	for i, v := range plainVectors() {
		b, _ := kr.Seal(bytes.Clone(v.msg), v.key, vectorFreshness(i))
		f.Add(b)
	}
	f.Add([]byte{0xfa, 0x4b, 1, 1, 1, 0, 0, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, body, fr, err := kr.Open(b)
		if err != nil {
			return
		}
		// Whatever opens was sealed with a key of kr: sealing its plain
		// form with the same freshness gives the same bytes.
		plain := bytes.Clone(b[:len(b)-wire.AuthTrailerLen])
		plain[4], plain[6], plain[7] = 0, 0, 0
		again, err := kr.Seal(plain, h.KeyID, fr)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("opened %x (%+v %q) but resealing gives %x, %v", b, h, body, again, err)
		}
	})
}
