package wire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// vectorsFile holds the golden vectors: the worked examples of PROTOCOL.md.
const vectorsFile = "../testdata/vectors.txt"

// sentinels maps the error names used in vectorsFile to the errors.
var sentinels = map[string]error{
	"ErrShort": ErrShort, "ErrMagic": ErrMagic, "ErrVersion": ErrVersion, "ErrType": ErrType,
	"ErrFlags": ErrFlags, "ErrReserved": ErrReserved, "ErrCode": ErrCode, "ErrBody": ErrBody,
	"ErrMalformed": ErrMalformed, "ErrTrailer": ErrTrailer, "ErrCookie": ErrCookie,
}

// vector is one line of vectorsFile.
type vector struct {
	line int
	name string
	in   []byte
	// For a valid vector:
	h    Header
	body []byte
	tag  []byte
	// For a malformed one, the name of the sentinel error:
	err string
}

// loadVectors reads and checks the syntax of vectorsFile.
func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	f, err := os.Open(vectorsFile)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := parseVector(line)
		if err != nil {
			tb.Fatalf("%s:%d: %v", vectorsFile, n, err)
		}
		if seen[v.name] {
			tb.Fatalf("%s:%d: duplicate vector %q", vectorsFile, n, v.name)
		}
		seen[v.name] = true
		v.line = n
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return vs
}

// parseVector parses "NAME: HEX => EXPECTATION".
func parseVector(line string) (vector, error) {
	var v vector
	name, rest, ok := strings.Cut(line, ":")
	if !ok {
		return v, errors.New("missing ':' after the name")
	}
	v.name = strings.TrimSpace(name)
	hx, want, ok := strings.Cut(rest, "=>")
	if !ok {
		return v, errors.New("missing '=>' before the expectation")
	}
	in, err := hex.DecodeString(strings.Join(strings.Fields(hx), ""))
	if err != nil {
		return v, fmt.Errorf("hex: %w", err)
	}
	v.in = in
	fields, err := splitFields(strings.TrimSpace(want))
	if err != nil {
		return v, err
	}
	if e, ok := fields["error"]; ok {
		if len(fields) != 1 {
			return v, errors.New("error= comes alone")
		}
		if sentinels[e] == nil {
			return v, fmt.Errorf("unknown error name %q", e)
		}
		v.err = e
		return v, nil
	}
	for _, k := range []string{"type", "flags", "code", "key", "id", "body"} {
		if _, ok := fields[k]; !ok {
			return v, fmt.Errorf("missing %s=", k)
		}
	}
	typ := Type(0)
	for t := range 256 {
		if Type(t).Known() && Type(t).String() == fields["type"] {
			typ = Type(t)
		}
	}
	if typ == 0 {
		return v, fmt.Errorf("unknown type %q", fields["type"])
	}
	flags, err1 := strconv.ParseUint(fields["flags"], 0, 8)
	code, err2 := strconv.ParseUint(fields["code"], 0, 8)
	key, err3 := strconv.ParseUint(fields["key"], 0, 16)
	id, err4 := strconv.ParseUint(fields["id"], 0, 64)
	body, err5 := strconv.Unquote(fields["body"])
	tag, err6 := hex.DecodeString(fields["trailer"])
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return v, err
	}
	v.h = Header{Type: typ, Flags: Flags(flags), Code: Code(code), KeyID: uint16(key), ID: id}
	v.body, v.tag = []byte(body), tag
	return v, nil
}

// splitFields splits `k=v k="quoted v"` into a map.
func splitFields(s string) (map[string]string, error) {
	m := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("expected key=value at %q", s)
		}
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			val, rest = q, rest[len(q):]
		} else {
			val, rest, _ = strings.Cut(rest, " ")
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("duplicate %s=", k)
		}
		m[k] = val
		s = strings.TrimSpace(rest)
	}
	return m, nil
}

func TestGoldenVectors(t *testing.T) {
	vs := loadVectors(t)
	used := map[string]bool{}
	valid := 0
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			h, body, err := Parse(v.in)
			if v.err != "" {
				used[v.err] = true
				if !errors.Is(err, sentinels[v.err]) {
					t.Fatalf("line %d: Parse(%x) error = %v, want %s", v.line, v.in, err, v.err)
				}
				return
			}
			valid++
			if err != nil {
				t.Fatalf("line %d: Parse(%x) = %v", v.line, v.in, err)
			}
			if h != v.h {
				t.Errorf("line %d: header = %+v, want %+v", v.line, h, v.h)
			}
			if !bytes.Equal(body, v.body) {
				t.Errorf("line %d: body = %q, want %q", v.line, body, v.body)
			}
			if got := v.in[HeaderLen+len(body):]; !bytes.Equal(got, v.tag) {
				t.Errorf("line %d: tag = %x, want %x", v.line, got, v.tag)
			}
			if re := append(Append(nil, v.h, v.body), v.tag...); !bytes.Equal(re, v.in) {
				t.Errorf("line %d: re-encoded\n got %x\nwant %x", v.line, re, v.in)
			}
		})
	}
	// The file covers every rule: each sentinel Parse can return appears at
	// least once (ErrMalformed is reserved for bodies specified later).
	for name := range sentinels {
		if !used[name] && name != "ErrMalformed" {
			t.Errorf("%s: no malformed vector for %s", vectorsFile, name)
		}
	}
	if valid < 5 {
		t.Errorf("%s: only %d valid vectors", vectorsFile, valid)
	}
}

// The helpers produce the exact bytes of the spec's examples.
func TestGoldenHelpers(t *testing.T) {
	vs := map[string][]byte{}
	for _, v := range loadVectors(t) {
		vs[v.name] = v.in
	}
	tests := []struct {
		name string
		got  []byte
	}{
		{"data-hello", AppendData(nil, 0x0123456789abcdef, []byte("hello"))},
		{"ack", AppendAck(nil, 0x0123456789abcdef)},
		{"nack-rejected", AppendNack(nil, 0x0123456789abcdef, CodeRejected, "unknown sensor", DefaultMaxDatagram)},
		{"nack-busy", AppendNack(nil, 0x0123456789abcdef, CodeBusy, "", DefaultMaxDatagram)},
		{"nack-utf8", AppendNack(nil, 0xfedcba9876543210, CodeTooLarge, "zu groß", 16+8)},
		// Cut to 7 bytes, the text loses the whole ß, not half of it.
		{"nack-utf8", append(AppendNack(nil, 0xfedcba9876543210, CodeTooLarge, "zu groß!", 16+7), 0xc3, 0x9f)},
	}
	for _, tt := range tests {
		if want, ok := vs[tt.name]; !ok {
			t.Errorf("no vector %q", tt.name)
		} else if !bytes.Equal(tt.got, want) {
			t.Errorf("%s:\n got %x\nwant %x", tt.name, tt.got, want)
		}
	}
}

// The worked examples pasted into PROTOCOL.md are the golden vectors.
func TestProtocolExamples(t *testing.T) {
	doc, err := os.ReadFile("../PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for l := range strings.Lines(string(doc)) {
		lines[strings.Join(strings.Fields(l), "")] = true
	}
	want := map[string]bool{"data-hello": true, "ack": true,
		// The cookie exchange of section 3.1.
		"cookie-xchg-data": true, "nack-cookie": true, "cookie-xchg-echo": true}
	for _, v := range loadVectors(t) {
		if want[v.name] && !lines[hex.EncodeToString(v.in)] {
			t.Errorf("PROTOCOL.md does not show vector %s as a hex line: %x", v.name, v.in)
		}
		delete(want, v.name)
	}
	if len(want) != 0 {
		t.Errorf("vectors missing: %v", want)
	}
}

// The cookie encoders produce the cookie vectors, and CookieOf reads them.
func TestGoldenCookie(t *testing.T) {
	vs := map[string][]byte{}
	for _, v := range loadVectors(t) {
		vs[v.name] = v.in
	}
	c := Cookie{0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8}
	for _, tt := range []struct {
		name string
		got  []byte
	}{
		{"nack-cookie", AppendCookieNack(nil, 0x0123456789abcdef, c)},
		{"data-cookie", AppendDataCookie(nil, 0x0123456789abcdf0, []byte("hi"), c)},
		{"data-cookie-empty", AppendDataCookie(nil, 5, nil, c)},
		{"cookie-xchg-echo", AppendDataCookie(nil, 0x0123456789abcdef, []byte("temperature=21.5"), c)},
	} {
		want := vs[tt.name]
		if !bytes.Equal(tt.got, want) {
			t.Errorf("%s:\n got %x\nwant %x", tt.name, tt.got, want)
		}
		h, _, err := Parse(want)
		if got, ok := CookieOf(h, want); err != nil || !ok || got != c {
			t.Errorf("%s: CookieOf = %x, %v (parse %v)", tt.name, got, ok, err)
		}
	}
	h, _, _ := Parse(vs["data-hello"])
	if _, ok := CookieOf(h, vs["data-hello"]); ok {
		t.Error("CookieOf found a cookie in a DATA without FlagCookie")
	}
	// The echo is the DATA it answers with FlagCookie and the cookie after
	// the same body: what a client builds from the bytes it sent.
	d, echo := vs["cookie-xchg-data"], vs["cookie-xchg-echo"]
	if got := append(append([]byte{d[0], d[1], d[2], d[3], byte(FlagCookie)}, d[5:]...), c[:]...); !bytes.Equal(got, echo) {
		t.Errorf("cookie-xchg-data with the cookie echoed:\n got %x\nwant %x", got, echo)
	}
}
