package wire_test

// This file is the "device" test: a program that imports package wire and
// the standard library only parses every golden vector of testdata/, and
// wire itself needs nothing outside the standard library (no x/net, no
// go-sockaddr), so that a small Go program on a device can speak udpkit.

import (
	"bufio"
	"encoding/hex"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/udpkit/udpkit/wire"
)

// TestWireImportsOnlyStdlib checks the imports of every non-test file of
// the package: standard library packages have no dot in their first path
// element, and they import only each other.
func TestWireImportsOnlyStdlib(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if strings.Contains(first, ".") {
				t.Errorf("%s imports %s: package wire must need the standard library only", f, path)
			}
		}
	}
}

// sentinel maps the error names of testdata/vectors.txt to the errors.
var sentinel = map[string]error{
	"ErrShort": wire.ErrShort, "ErrMagic": wire.ErrMagic, "ErrVersion": wire.ErrVersion, "ErrType": wire.ErrType,
	"ErrFlags": wire.ErrFlags, "ErrReserved": wire.ErrReserved, "ErrCode": wire.ErrCode, "ErrBody": wire.ErrBody,
	"ErrMalformed": wire.ErrMalformed, "ErrTrailer": wire.ErrTrailer, "ErrCookie": wire.ErrCookie,
}

// readHex decodes a .hex file of testdata: hex digits, whitespace and #
// comments.
func readHex(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for line := range strings.Lines(string(raw)) {
		line, _, _ = strings.Cut(line, "#")
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// parseBody parses the body of a valid datagram the way a receiver
// dispatches it: by type, with the body parser of that type.
func parseBody(h wire.Header, body []byte) error {
	switch h.Type {
	case wire.TypeQuery:
		_, err := wire.ParseQuery(body)
		return err
	case wire.TypeAnnounce, wire.TypeAnswer, wire.TypeGoodbye:
		_, err := wire.ParseRecord(body)
		return err
	case wire.TypeProbe:
		_, err := wire.ParseProbe(h, body)
		return err
	case wire.TypeReply:
		_, err := wire.ParseReply(h, body)
		return err
	}
	return nil // DATA, ACK, NACK, PING, PONG: the body is the payload or text
}

func TestEveryGoldenVectorWithWireAlone(t *testing.T) {
	seen := map[wire.Type]bool{}
	// The header vectors: valid ones parse, malformed ones fail with the
	// named sentinel.
	f, err := os.Open("../testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		_, rest, _ := strings.Cut(line, ":")
		hx, want, _ := strings.Cut(rest, "=>")
		in, err := hex.DecodeString(strings.Join(strings.Fields(hx), ""))
		if err != nil {
			t.Fatalf("vectors.txt:%d: %v", n, err)
		}
		h, body, err := wire.Parse(in)
		if name, ok := strings.CutPrefix(strings.TrimSpace(want), "error="); ok {
			if !errors.Is(err, sentinel[name]) || !errors.Is(wire.Explain(in), sentinel[name]) {
				t.Errorf("vectors.txt:%d: error %v (%v), want %s", n, err, wire.Explain(in), name)
			}
			continue
		}
		if err != nil {
			t.Errorf("vectors.txt:%d: %v", n, wire.Explain(in))
			continue
		}
		if err := parseBody(h, body); err != nil {
			t.Errorf("vectors.txt:%d: %v", n, err)
		}
		seen[h.Type] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// The body vectors: whole datagrams, every one valid.
	files, _ := filepath.Glob("../testdata/*/*.hex")
	if len(files) == 0 {
		t.Fatal("no .hex vectors found")
	}
	for _, path := range files {
		in := readHex(t, path)
		h, body, err := wire.Parse(in)
		if err != nil {
			t.Errorf("%s: %v", path, wire.Explain(in))
			continue
		}
		if err := parseBody(h, body); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		seen[h.Type] = true
	}
	// Golden vectors cover every message type of the protocol.
	for i := range 256 {
		if ty := wire.Type(i); ty.Known() && !seen[ty] {
			t.Errorf("no valid golden vector of type %v", ty)
		}
	}
}

// Parse fails without allocating, whatever is wrong, so that a flood of
// malformed datagrams costs a receiver nothing; Explain tells the same
// error with detail.
func TestParseErrorsDoNotAllocate(t *testing.T) {
	bad := [][]byte{
		{},
		{wire.Magic0},
		[]byte("text, not a message"),
		{0xFA, 0x4B, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},    // version
		{0xFA, 0x4B, 1, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, // type
		{0xFA, 0x4B, 1, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, // flags
		{0xFA, 0x4B, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1},    // auth without tag
		{0xFA, 0x4B, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1},    // key ID without auth
		{0xFA, 0x4B, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},    // nack without code
		{0xFA, 0x4B, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9}, // ack with body
	}
	for _, b := range bad {
		_, _, err := wire.Parse(b)
		if err == nil {
			t.Fatalf("Parse(%x) accepted", b)
		}
		if x := wire.Explain(b); !errors.Is(x, err) || x.Error() == err.Error() && err != wire.ErrMagic {
			t.Errorf("Explain(%x) = %v, want %v with detail", b, x, err)
		}
		if n := testing.AllocsPerRun(100, func() { wire.Parse(b) }); n != 0 {
			t.Errorf("Parse(%x) allocates %.0f times", b, n)
		}
	}
	h, body, _ := wire.Parse(wire.AppendData(nil, 1, []byte("x")))
	if n := testing.AllocsPerRun(100, func() { wire.ParseProbe(h, body) }); n != 0 {
		t.Errorf("ParseProbe of a DATA allocates %.0f times", n)
	}
}
