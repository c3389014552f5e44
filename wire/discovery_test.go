package wire

import (
	"encoding/hex"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/discovery and testdata/multicast")

func sampleRecord() Record {
	return Record{TTL: 120, Port: 9797, Service: "_udpkit._udp", Instance: "printer-1",
		Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("fe80::1")},
		Attrs: []string{"v=1", "room=lab"}}
}

// golden lists the messages whose hex encodings are in testdata/discovery.
var golden = []struct {
	file string
	make func() ([]byte, error)
}{
	{"query-any.hex", func() ([]byte, error) { return AppendQuery(nil, 0x0102030405060708, Query{}, 0) }},
	{"query-known-padded.hex", func() ([]byte, error) {
		return AppendQuery(nil, 1, Query{Service: "_udpkit._udp", Known: []uint64{KnownHash("_udpkit._udp", "printer-1")}}, 64)
	}},
	{"query-again.hex", func() ([]byte, error) {
		// A later round: QueryAgain set, one known answer, padded.
		return AppendQuery(nil, 2, Query{Service: "_udpkit._udp", Known: []uint64{KnownHash("_udpkit._udp", "printer-1")}, Again: true}, 64)
	}},
	{"announce.hex", func() ([]byte, error) { return AppendRecord(nil, TypeAnnounce, 7, sampleRecord()) }},
	{"answer-truncated.hex", func() ([]byte, error) {
		r := sampleRecord()
		r.Attrs, r.Truncated = nil, true
		return AppendRecord(nil, TypeAnswer, 1, r)
	}},
	{"goodbye.hex", func() ([]byte, error) {
		r := sampleRecord()
		r.TTL = 0
		return AppendRecord(nil, TypeGoodbye, 8, r)
	}},
}

func TestGolden(t *testing.T) {
	for _, g := range golden {
		b, err := g.make()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("..", "testdata", "discovery", g.file)
		if *update {
			if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != strings.TrimSpace(string(want)) {
			t.Errorf("%s:\n got %s\nwant %s", g.file, got, want)
		}
		// Every golden message parses back.
		h, body, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", g.file, err)
		}
		if h.Type == TypeQuery {
			_, err = ParseQuery(body)
		} else {
			_, err = ParseRecord(body)
		}
		if err != nil {
			t.Errorf("%s: %v", g.file, err)
		}
	}
}

func TestKnownHash(t *testing.T) {
	if KnownHash("_udpkit._udp", "Printer-1") != KnownHash("_UDPKIT._udp", "printer-1") {
		t.Error("KnownHash is case-sensitive")
	}
	if KnownHash("_a._udp", "b") == KnownHash("_a._udp", "c") {
		t.Error("collision")
	}
	// The value PROTOCOL.md specifies: FNV-1a 64 of "_a._udp\x00b",
	// computed independently.
	if got := KnownHash("_A._udp", "B"); got != 0x5cb05fdb322d54eb {
		t.Errorf("KnownHash = %#x", got)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []Record{sampleRecord(), {TTL: 1, Port: 1, Service: "_x._tcp", Instance: "é ü . x"}} {
		b, err := AppendRecord(nil, TypeAnswer, 3, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != RecordLen(r) {
			t.Errorf("RecordLen %d, encoded %d", RecordLen(r), len(b))
		}
		_, body, _ := Parse(b)
		got, err := ParseRecord(body)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("got %+v\nwant %+v", got, r)
		}
	}
}

func TestParseRecordErrors(t *testing.T) {
	good, _ := AppendRecord(nil, TypeAnnounce, 1, sampleRecord())
	body := good[HeaderLen:]
	for name, b := range map[string][]byte{
		"empty":  {},
		"cut":    body[:len(body)-3],
		"port 0": append([]byte{0, 0, 0, 0, 1, 0, 0}, body[7:]...),
		"bad family": func() []byte {
			c, _ := AppendRecord(nil, TypeAnnounce, 1, Record{TTL: 1, Port: 1, Service: "_a._udp", Instance: "x", Addrs: []netip.Addr{netip.MustParseAddr("1.2.3.4")}})
			c[HeaderLen+7+8+2+1] = 5
			return c[HeaderLen:]
		}(),
		"bad service": func() []byte {
			c, _ := AppendRecord(nil, TypeAnnounce, 1, Record{TTL: 1, Port: 1, Service: "udp", Instance: "x"})
			return c[HeaderLen:]
		}(),
		"empty inst": func() []byte {
			c, _ := AppendRecord(nil, TypeAnnounce, 1, Record{TTL: 1, Port: 1, Service: "_a._udp"})
			return c[HeaderLen:]
		}(),
		"bad attr": func() []byte {
			c, _ := AppendRecord(nil, TypeAnnounce, 1, Record{TTL: 1, Port: 1, Service: "_a._udp", Instance: "x", Attrs: []string{"=v"}})
			return c[HeaderLen:]
		}(),
	} {
		if _, err := ParseRecord(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

func TestQueryRoundTripAndPadding(t *testing.T) {
	q := Query{Service: "_udpkit._udp", Instance: "x", Known: []uint64{1, 2, 3}}
	b, err := AppendQuery(nil, 9, q, 512)
	if err != nil || len(b) != 512 {
		t.Fatalf("len %d err %v", len(b), err)
	}
	_, body, _ := Parse(b)
	got, err := ParseQuery(body)
	if err != nil || !reflect.DeepEqual(got, q) {
		t.Errorf("got %+v %v", got, err)
	}
	if _, err := ParseQuery(body[:10]); !errors.Is(err, ErrMalformed) {
		t.Errorf("short known list: %v", err)
	}
	// The flags byte: QueryAgain is bit 0; reserved bits are ignored.
	for _, c := range []struct {
		flags byte
		again bool
	}{{0x00, false}, {0x01, true}, {0xfe, false}, {0xff, true}} {
		body[0] = c.flags
		got, err := ParseQuery(body)
		if err != nil || got.Again != c.again {
			t.Errorf("flags %#x: Again %v (%v), want %v", c.flags, got.Again, err, c.again)
		}
	}
	if _, err := AppendQuery(nil, 1, Query{Known: make([]uint64, 256)}, 0); err == nil {
		t.Error("256 known answers accepted")
	}
}

func TestFitRecord(t *testing.T) {
	r := sampleRecord()
	full := RecordLen(r)
	if got, ok := FitRecord(r, full); !ok || got.Truncated || len(got.Attrs) != 2 {
		t.Errorf("exact fit: %+v %v", got, ok)
	}
	got, ok := FitRecord(r, full-1)
	if !ok || !got.Truncated || len(got.Attrs) != 1 || RecordLen(got) > full-1 {
		t.Errorf("one less: %+v %v", got, ok)
	}
	r.Attrs = nil
	if _, ok := FitRecord(r, RecordLen(r)-1); ok {
		t.Error("a record without attributes that does not fit was kept")
	}
}

func TestNames(t *testing.T) {
	for _, s := range []string{"_udpkit._udp", "_http._tcp", "_a-b._udp", "_x1._udp"} {
		if err := ValidateService(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "udpkit._udp", "_udpkit", "_._udp", "_-a._udp", "_a--b._udp", "_123._udp", "_abcdefghijklmnop._udp", "_a b._udp"} {
		if err := ValidateService(s); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%q accepted", s)
		}
	}
	for _, s := range []string{"a", "My Printer (2nd floor)", strings.Repeat("é", 31)} {
		if err := ValidateInstance(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", strings.Repeat("a", 64), "a\nb", "\xff"} {
		if err := ValidateInstance(s); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%q accepted", s)
		}
	}
	if err := ValidateAttrs([]string{"a=1", "b", "c="}); err != nil {
		t.Error(err)
	}
	for _, as := range [][]string{{"=1"}, {"a=1", "A=2"}, {strings.Repeat("k", 256)}, {"k\x01=1"}} {
		if err := ValidateAttrs(as); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%q accepted", as)
		}
	}
	if v, ok := LookupAttr([]string{"a=1", "Flag"}, "flag"); !ok || v != "" {
		t.Error("boolean attribute")
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, g := range golden[:3] {
		b, _ := g.make()
		f.Add(b[HeaderLen:])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		q, err := ParseQuery(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		b, err := AppendQuery(nil, 1, q, 0)
		if err != nil {
			t.Fatal(err)
		}
		q2, err := ParseQuery(b[HeaderLen:])
		if err != nil || !reflect.DeepEqual(q, q2) {
			t.Fatalf("re-encoding changed %+v to %+v (%v)", q, q2, err)
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	for _, g := range golden[3:] {
		b, _ := g.make()
		f.Add(b[HeaderLen:])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRecord(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		b, err := AppendRecord(nil, TypeAnnounce, 1, r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ParseRecord(b[HeaderLen:])
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoding changed %+v to %+v (%v)", r, r2, err)
		}
	})
}

func TestSplitAttr(t *testing.T) {
	tests := []struct {
		in, key, value string
		has            bool
	}{
		{"path=/x", "path", "/x", true},
		{"empty=", "empty", "", true},
		{"flag", "flag", "", false},
		{"a=b=c", "a", "b=c", true},
	}
	for _, tt := range tests {
		k, v, ok := SplitAttr(tt.in)
		if k != tt.key || v != tt.value || ok != tt.has {
			t.Errorf("SplitAttr(%q) = %q, %q, %v", tt.in, k, v, ok)
		}
	}
}
