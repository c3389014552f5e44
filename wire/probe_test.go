package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	goldenProbe = Probe{Session: 0x01020304, Seq: 7, Time: 0x1122334455667788, Kind: KindMulticast, TTL: 1,
		Flags: ProbeMember | ProbeLast, Count: 7, IntervalMillis: 1000}
	goldenReply = Reply{Session: 0x01020304, Seq: 7, Time: 0x1122334455667788, Kind: KindMulticast, TTL: 1,
		TTLSeen: 1, Flags: ProbeMember, Responder: 0xa0b0c0d0, Received: 6, First: 1}
)

// readGolden reads a hex file of testdata/multicast (whitespace and #
// comments ignored).
func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "multicast", name))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenProbe(t *testing.T) {
	p := readGolden(t, "probe.hex")
	if got := AppendProbe(nil, goldenProbe); !bytes.Equal(got, p) {
		t.Errorf("AppendProbe:\n got %x\nwant %x", got, p)
	}
	if got, err := parseProbe(p); err != nil || got != goldenProbe {
		t.Errorf("ParseProbe = %+v, %v", got, err)
	}
	r := readGolden(t, "reply.hex")
	if got := AppendReply(nil, goldenReply); !bytes.Equal(got, r) {
		t.Errorf("AppendReply:\n got %x\nwant %x", got, r)
	}
	if got, err := parseReply(r); err != nil || got != goldenReply {
		t.Errorf("ParseReply = %+v, %v", got, err)
	}
	if len(r) > len(p) {
		t.Errorf("reply (%d bytes) larger than probe (%d)", len(r), len(p))
	}
}

func TestProbeRoundTrip(t *testing.T) {
	probes := []Probe{
		{},
		{Session: 1, Seq: 0, Kind: KindUnicast, TTL: 64},
		{Session: ^uint32(0), Seq: ^uint32(0), Time: ^uint64(0), Kind: KindMulticast, TTL: 255, Flags: 0xff, Count: 1, IntervalMillis: 10, Pad: 100},
	}
	for _, p := range probes {
		if p.Kind == 0 {
			p.Kind = KindMulticast
		}
		b := AppendProbe(nil, p)
		if len(b) != ProbeLen+p.Pad {
			t.Errorf("%+v: %d bytes", p, len(b))
		}
		got, err := parseProbe(b)
		if err != nil || got != p {
			t.Errorf("parseProbe(AppendProbe(%+v)) = %+v, %v", p, got, err)
		}
		r := ReplyTo(p, 3, 9, ProbeMember, 5, 2)
		rb := AppendReply(nil, r)
		if len(rb) > len(b) {
			t.Errorf("reply %d bytes > probe %d bytes", len(rb), len(b))
		}
		gr, err := parseReply(rb)
		if err != nil || gr != r || gr.Session != p.Session || gr.Seq != p.Seq || gr.Time != p.Time || gr.TTLSeen != 3 {
			t.Errorf("reply round trip: %+v, %v", gr, err)
		}
	}
}

func TestParseProbeErrors(t *testing.T) {
	probe := AppendProbe(nil, goldenProbe)
	reply := AppendReply(nil, goldenReply)
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	tests := []struct {
		name  string
		b     []byte
		reply bool
		want  error
	}{
		{"empty", nil, false, ErrShort},
		{"text", []byte("hello there, this is text"), false, ErrMagic},
		{"header only", probe[:HeaderLen], false, ErrMalformed},
		{"short body", probe[:ProbeLen-1], false, ErrMalformed},
		{"reply as probe", reply, false, ErrMalformed},
		{"probe as reply", probe, true, ErrMalformed},
		{"bad kind", mod(probe, func(b []byte) []byte { b[HeaderLen+8] = 3; return b }), false, ErrMalformed},
		{"kind zero", mod(probe, func(b []byte) []byte { b[HeaderLen+8] = 0; return b }), false, ErrMalformed},
		{"auth trailer cut", mod(probe, func(b []byte) []byte { b[4] = byte(FlagAuth); b[7] = 1; return b }), false, ErrTrailer},
		{"auth body cut", mod(probe, func(b []byte) []byte { b[4] = byte(FlagAuth); b[7] = 1; return append(b, make([]byte, 16)...) }), false, ErrMalformed},
		{"long reply", append(append([]byte(nil), reply...), 0), true, ErrMalformed},
		{"short reply", reply[:ReplyLen-1], true, ErrMalformed},
		{"version", mod(probe, func(b []byte) []byte { b[2] = 2; return b }), false, ErrVersion},
		{"code", mod(reply, func(b []byte) []byte { b[5] = 1; return b }), true, ErrCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.reply {
				_, err = parseReply(tc.b)
			} else {
				_, err = parseProbe(tc.b)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestProbeBodyIgnoresAuthFlag: like ParseQuery and ParseRecord, the
// probe body parsers take the body Parse (or ParseAuth) returned, trailer
// stripped, whatever FlagAuth says; the auth layer judges the flag.
func TestProbeBodyIgnoresAuthFlag(t *testing.T) {
	sealed := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		b[4], b[7] = byte(FlagAuth), 7
		return append(AppendFreshness(b, Freshness{1, 2, 3}), make([]byte, TagLen)...)
	}
	if p, err := parseProbe(sealed(AppendProbe(nil, goldenProbe))); err != nil || p != goldenProbe {
		t.Errorf("authenticated probe: %+v, %v", p, err)
	}
	if r, err := parseReply(sealed(AppendReply(nil, goldenReply))); err != nil || r != goldenReply {
		t.Errorf("authenticated reply: %+v, %v", r, err)
	}
}

func TestPaddedProbeIgnoresPadding(t *testing.T) {
	b := AppendProbe(nil, Probe{Kind: KindUnicast, Pad: 3})
	b[len(b)-1] = 0xee // receivers ignore the padding's content
	p, err := parseProbe(b)
	if err != nil || p.Pad != 3 {
		t.Fatalf("%+v %v", p, err)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindMulticast: "multicast", KindUnicast: "unicast", 9: "kind(9)"} {
		if k.String() != want {
			t.Errorf("%d: %q", k, k.String())
		}
	}
}

func FuzzParseProbe(f *testing.F) {
	f.Add(AppendProbe(nil, goldenProbe))
	f.Add(AppendReply(nil, goldenReply))
	f.Add(AppendProbe(nil, Probe{Kind: KindUnicast, Pad: 5}))
	f.Add([]byte("ack\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := parseProbe(b); err == nil {
			if p.Kind != KindMulticast && p.Kind != KindUnicast {
				t.Fatalf("accepted kind %d", p.Kind)
			}
			again := AppendProbe(nil, p)
			q, err := parseProbe(again)
			if err != nil || q != p {
				t.Fatalf("re-encode: %+v -> %+v, %v", p, q, err)
			}
			// Responders reply to every valid probe: never larger.
			if r := AppendReply(nil, ReplyTo(p, 1, 2, ProbeMember, 3, 4)); len(r) > len(b) {
				t.Fatalf("reply %d bytes to a %d-byte probe", len(r), len(b))
			}
		}
		if r, err := parseReply(b); err == nil {
			if got := AppendReply(nil, r); !bytes.Equal(got[HeaderLen:], b[HeaderLen:]) && b[4] == 0 {
				t.Fatalf("reply re-encode differs: %x vs %x", got, b)
			}
		}
	})
}

// parseProbe and parseReply parse a whole datagram as a receiver does:
// Parse once, then the body by type.
func parseProbe(b []byte) (Probe, error) {
	h, body, err := Parse(b)
	if err != nil {
		return Probe{}, err
	}
	p, err := ParseProbe(h, body)
	if err != nil {
		if ExplainProbe(TypeProbe, h, body) == nil {
			panic("ExplainProbe accepts what ParseProbe refuses")
		}
	}
	return p, err
}

func parseReply(b []byte) (Reply, error) {
	h, body, err := Parse(b)
	if err != nil {
		return Reply{}, err
	}
	r, err := ParseReply(h, body)
	if err != nil {
		if ExplainProbe(TypeReply, h, body) == nil {
			panic("ExplainProbe accepts what ParseReply refuses")
		}
	}
	return r, err
}
