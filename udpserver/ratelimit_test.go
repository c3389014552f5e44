package udpserver

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/udpkit/udpkit/wire"
)

func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{RateLimit: 1, RateBurst: 3}
		data := func(from string, id uint64) []byte {
			return s.process(bg, newPacketFor(s, wire.AppendData(nil, id, []byte("hello")), from), make([]byte, 0, 2048))
		}
		kind := func(b []byte) string {
			if b == nil {
				return "none"
			}
			h, _, err := wire.Parse(b)
			if err != nil {
				return "bad"
			}
			if h.Type == wire.TypeNack {
				return fmt.Sprintf("%v/%v/%d", h.Type, h.Code, len(b))
			}
			return h.Type.String()
		}
		ack, none := wire.TypeAck.String(), "none"
		limited := fmt.Sprintf("%v/%v/%d", wire.TypeNack, wire.CodeRateLimited, len(wire.AppendNack(nil, 1, wire.CodeRateLimited, "", 1500)))
		steps := []struct {
			name  string
			wait  time.Duration
			reply []byte
			want  string
		}{
			{"burst 1", 0, data("192.0.2.1:1000", 1), ack},
			{"burst 2", 0, data("192.0.2.1:1001", 2), ack}, // another port, same source
			{"burst 3", 0, data("192.0.2.1:1000", 3), ack},
			{"over: told once", 0, data("192.0.2.1:1000", 4), limited},
			{"over: then dropped", 0, data("192.0.2.1:1000", 5), none},
			{"ping over: dropped", 0, s.process(bg, newPacketFor(s, wire.Append(nil, hdr(wire.TypePing, 9), nil), "192.0.2.1:1000"), make([]byte, 0, 2048)), none},
			{"raw over: dropped", 0, s.process(bg, newPacketFor(s, []byte("hi"), "192.0.2.1:1000"), make([]byte, 0, 2048)), none},
			{"other source", 0, data("192.0.2.2:1000", 1), ack},
			{"IPv6 same /64", 0, data("[2001:db8::1]:1000", 1), ack},
		}
		for _, st := range steps {
			if got := kind(st.reply); got != st.want {
				t.Errorf("%s: got %s, want %s", st.name, got, st.want)
			}
		}
		time.Sleep(time.Second) // one token back
		if got := kind(data("192.0.2.1:1000", 6)); got != ack {
			t.Errorf("after 1 s: got %s, want an ACK", got)
		}
		if got := kind(data("192.0.2.1:1000", 7)); got != limited {
			t.Errorf("after 1 s, over again: got %s, want a NACK (a second passed)", got)
		}
		st := s.Stats()
		if st.RateLimited != 5 || st.RateSources != 3 || st.Nacked != 2 {
			t.Errorf("stats: RateLimited %d RateSources %d Nacked %d, want 5 3 2", st.RateLimited, st.RateSources, st.Nacked)
		}
	})
}

func TestRateLimitIPv6Prefix(t *testing.T) {
	s := &Server{RateLimit: 1, RateBurst: 1}
	reply := make([]byte, 0, 2048)
	for i, from := range []string{"[2001:db8::1]:1000", "[2001:db8::2]:1000", "[2001:db8:0:1::1]:1000"} {
		out := s.process(bg, newPacketFor(s, wire.AppendData(nil, uint64(i+1), nil), from), reply)
		h, _ := parseReply(t, out)
		want := []wire.Type{wire.TypeAck, wire.TypeNack, wire.TypeAck}[i]
		if h.Type != want {
			t.Errorf("%s: %v, want %v", from, h.Type, want)
		}
	}
}

func TestRateLimitTableCap(t *testing.T) {
	s := &Server{RateLimit: 10, RateSources: 4}
	reply := make([]byte, 0, 2048)
	for i := range 100 {
		s.process(bg, newPacketFor(s, wire.AppendData(nil, 1, nil), netipAddrPort(i).String()), reply)
	}
	// netipAddrPort cycles through 5 addresses.
	if st := s.Stats(); st.RateSources != 4 || st.RateEvicted == 0 {
		t.Errorf("RateSources %d RateEvicted %d, want 4 and some", st.RateSources, st.RateEvicted)
	}
}

func TestRateLimitAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	s := &Server{RateLimit: 1e6, RateSources: 64, DedupEntries: 256}
	reply := make([]byte, 0, 2048)
	pkts := make([]*packet, 200) // more sources than the table holds: every lookup evicts
	for i := range pkts {
		pkts[i] = newPacketFor(s, wire.AppendData(nil, uint64(i), nil), fmt.Sprintf("10.0.%d.%d:1000", i/250, i%250+1))
	}
	i := 0
	f := func() { s.process(bg, pkts[i%len(pkts)], reply); i++ }
	for range 1000 {
		f()
	}
	if n := testing.AllocsPerRun(1000, f); n != 0 {
		t.Errorf("%v allocations per datagram, want 0", n)
	}
}

func TestRateLimitConfig(t *testing.T) {
	for _, s := range []*Server{{RateLimit: -1}, {RateLimit: 10, RateBurst: -1}, {RateSources: -5}} {
		s.init()
		if s.cfg.err == nil {
			t.Errorf("%+v: no configuration error", s)
		}
	}
}
