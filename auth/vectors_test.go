package auth

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// The authenticated golden vectors (PROTOCOL.md section 5): every message
// type of PROTOCOL.md, sealed with the keys of testKeyFile. Regenerate with
//
//	go test ./auth -run TestVectors -update
const (
	vectorsFile = "../testdata/auth/vectors.txt"
	testKeyFile = "../testdata/auth/test.key"
)

var update = flag.Bool("update", false, "rewrite "+vectorsFile)

// vectorTime is the time field of every vector: 2026-12-01T00:00:00Z.
var vectorTime = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func hexMsg(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// hexFile returns the datagram of a testdata .hex file (name relative to
// testdata/): '#' lines are comments, the rest is hex with spaces. Reading
// the files, rather than copying their bytes here, keeps one source.
func hexFile(name string) []byte {
	text, err := os.ReadFile("../testdata/" + name)
	if err != nil {
		panic(err)
	}
	var hexText strings.Builder
	for _, line := range strings.Split(string(text), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			hexText.WriteString(line + " ")
		}
	}
	return hexMsg(hexText.String())
}

// plainVector is an unauthenticated datagram to seal.
type plainVector struct {
	name, comment string
	key           uint16
	msg           []byte
}

// plainVectors are the unauthenticated datagrams the vectors seal: the
// examples of PROTOCOL.md sections 1, 6 and 7 (the same bytes as
// testdata/vectors.txt, testdata/discovery/ and testdata/multicast/).
func plainVectors() []plainVector {
	const id = 0x0123456789abcdef
	return []plainVector{
		{"data", `DATA "hello"`, 7, wire.AppendData(nil, id, []byte("hello"))},
		{"ack", "the ACK of data", 7, wire.AppendAck(nil, id)},
		{"nack", `NACK code 1 (rejected) "unknown sensor"`, 7, wire.AppendNack(nil, id, wire.CodeRejected, "unknown sensor", 100)},
		{"ping", "PING with an 8-byte body", 7, wire.Append(nil, wire.Header{Type: wire.TypePing, ID: 42}, hexMsg("0001020304050607"))},
		{"pong", "the PONG of ping", 7, wire.Append(nil, wire.Header{Type: wire.TypePong, ID: 42}, hexMsg("0001020304050607"))},
		{"query", "QUERY for every service (testdata/discovery/query-any.hex)", 7, hexFile("discovery/query-any.hex")},
		{"announce", "ANNOUNCE (testdata/discovery/announce.hex)", 7, hexFile("discovery/announce.hex")},
		{"answer", "ANSWER, truncated (testdata/discovery/answer-truncated.hex)", 7, hexFile("discovery/answer-truncated.hex")},
		{"goodbye", "GOODBYE (testdata/discovery/goodbye.hex)", 7, hexFile("discovery/goodbye.hex")},
		{"probe", "PROBE (testdata/multicast/probe.hex)", 7, hexFile("multicast/probe.hex")},
		{"reply", "REPLY (testdata/multicast/reply.hex)", 7, hexFile("multicast/reply.hex")},
		{"data-previous-key", `DATA "hello" sealed with the previous key, 6: still accepted`, 6, wire.AppendData(nil, id, []byte("hello"))},
		{"data-empty", "DATA with an empty body: 56 bytes, the shortest authenticated datagram", 7, wire.AppendData(nil, 1, nil)},
	}
}

// vectorFreshness is the freshness of the i-th vector: one sender, counters
// 1, 2, 3, ... in the order of plainVectors.
func vectorFreshness(i int) wire.Freshness {
	return wire.Freshness{Sender: 0x5e4d3c2b1a090807, Counter: uint64(i + 1), Time: uint64(vectorTime.UnixMilli())}
}

func testKeyring(tb testing.TB) *Keyring {
	tb.Helper()
	text, err := os.ReadFile(testKeyFile)
	if err != nil {
		tb.Fatal(err)
	}
	kr, err := ParseKeyFile(text)
	if err != nil {
		tb.Fatal(err)
	}
	return kr
}

// badVector is a sealed datagram changed so that Open must refuse it.
type badVector struct {
	name, comment string
	from          string // the valid vector it is made from
	change        func([]byte) []byte
	err           error
}

var badVectors = []badVector{
	{"bad-tag", "data with the last tag byte changed", "data", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ErrBadTag},
	{"bad-body", "data with one body bit changed (the tag covers the body)", "data", func(b []byte) []byte { b[16] ^= 0x20; return b }, ErrBadTag},
	{"bad-header", "data with the message ID changed (the tag covers the header)", "data", func(b []byte) []byte { b[15] ^= 1; return b }, ErrBadTag},
	{"bad-counter", "data with the counter changed (the tag covers the freshness fields)", "data", func(b []byte) []byte { b[len(b)-17-8] ^= 1; return b }, ErrBadTag},
	{"other-key", "data with the key ID changed to 6, the previous key: the tag was made with key 7", "data", func(b []byte) []byte { b[7] = 6; return b }, ErrBadTag},
	{"unknown-key", "data with the key ID changed to 9, a key the keyring does not hold", "data", func(b []byte) []byte { b[7] = 9; return b }, ErrUnknownKey},
	{"no-auth-flag", "data with the auth flag cleared (and key ID 0): an unauthenticated datagram", "data", func(b []byte) []byte { b[4], b[7] = 0, 0; return b }, wire.ErrNotAuth},
	{"short-trailer", "ack cut by one byte: no room for the 40-byte trailer", "ack", func(b []byte) []byte { return b[:len(b)-1] }, wire.ErrTrailer},
	{"ack-with-body", "an ack with one body byte, sealed (a valid tag on an invalid message)", "", nil, wire.ErrBody},
}

// generateVectors returns the text of vectorsFile.
func generateVectors(tb testing.TB) []byte {
	tb.Helper()
	kr := testKeyring(tb)
	var out bytes.Buffer
	out.WriteString(`# udpkit wire protocol, version 1: authenticated golden vectors (PROTOCOL.md section 5).
#
# Generated by 'go test ./auth -run TestVectors -update'; do not edit by hand. Every datagram is sealed with the
# keys of testdata/auth/test.key: key 7 (current, secret 000102...1f) and key 6 (previous).
#
# Valid vectors, one a line:
#   NAME: key=ID sender=0xHEX counter=N time=MS plain=HEX auth=HEX
# plain is the unauthenticated datagram; auth is the same message sealed: the auth flag set and the key ID in the
# header, then the trailer after the body: sender (8) counter (8) time (8, ms since 1970 UTC) tag (16), the tag
# being the first 16 bytes of HMAC-SHA-256(secret of key ID, every byte before the tag). Every auth vector opens
# with the keys of test.key, and its header and body are those of plain.
#
# Refused vectors:
#   NAME: auth=HEX => error=NAME
# error is the sentinel of package auth or wire that a receiver holding test.key reports; it drops the datagram.

`)
	plain := plainVectors()
	sealed := map[string][]byte{}
	for i, v := range plain {
		if _, _, err := wire.Parse(v.msg); err != nil {
			tb.Fatalf("%s: plain datagram does not parse: %v", v.name, err)
		}
		f := vectorFreshness(i)
		b, err := kr.Seal(bytes.Clone(v.msg), v.key, f)
		if err != nil {
			tb.Fatalf("%s: %v", v.name, err)
		}
		sealed[v.name] = b
		fmt.Fprintf(&out, "# %s (%d bytes)\n%s: key=%d sender=%#016x counter=%d time=%d plain=%x auth=%x\n",
			v.comment, len(b), v.name, v.key, f.Sender, f.Counter, f.Time, v.msg, b)
	}
	out.WriteString("\n")
	for _, v := range badVectors {
		var b []byte
		if v.from == "" {
			// Seal refuses an invalid message, so build this one by hand.
			msg := append(wire.AppendAck(nil, 1), 0)
			msg[4], msg[7] = byte(wire.FlagAuth), 7
			msg = wire.AppendFreshness(msg, vectorFreshness(len(plain)))
			e := kr.lookup(7)
			m := e.get()
			m.h.Write(msg)
			b = append(msg, m.h.Sum(nil)[:wire.TagLen]...)
			e.put(m)
		} else {
			b = v.change(bytes.Clone(sealed[v.from]))
		}
		fmt.Fprintf(&out, "# %s\n%s: auth=%x => error=%s\n", v.comment, v.name, b, errName(v.err))
	}
	return out.Bytes()
}

// parseBody parses an opened body with the wire body parser of its type
// (DATA, ACK, NACK, PING and PONG bodies have no parser beyond Parse).
func parseBody(h wire.Header, body []byte) error {
	var err error
	switch h.Type {
	case wire.TypeQuery:
		_, err = wire.ParseQuery(body)
	case wire.TypeAnnounce, wire.TypeAnswer, wire.TypeGoodbye:
		_, err = wire.ParseRecord(body)
	case wire.TypeProbe:
		_, err = wire.ParseProbe(h, body)
	case wire.TypeReply:
		_, err = wire.ParseReply(h, body)
	}
	return err
}

func errName(err error) string {
	for name, e := range vectorErrors {
		if e == err {
			return name
		}
	}
	panic(fmt.Sprintf("no name for %v", err))
}

var vectorErrors = map[string]error{
	"ErrBadTag": ErrBadTag, "ErrUnknownKey": ErrUnknownKey, "ErrNotAuth": wire.ErrNotAuth,
	"ErrTrailer": wire.ErrTrailer, "ErrBody": wire.ErrBody,
}

// TestVectors regenerates the vectors and compares them with the file (or
// rewrites it with -update), then checks the file on its own terms: every
// valid vector opens to its plain datagram, every refused one fails with
// its error.
func TestVectors(t *testing.T) {
	text := generateVectors(t)
	if *update {
		if err := os.WriteFile(vectorsFile, text, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, text) {
		t.Fatalf("%s is stale: run go test ./auth -run TestVectors -update", vectorsFile)
	}
	kr := testKeyring(t)
	types := map[wire.Type]bool{}
	sc := bufio.NewScanner(bytes.NewReader(file))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		n++
		name, rest, _ := strings.Cut(line, ": ")
		f := map[string]string{}
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		auth := hexMsg(f["auth"])
		h, body, fr, err := kr.Open(auth)
		if want, ok := vectorErrors[f["error"]]; ok {
			if !errors.Is(err, want) {
				t.Errorf("%s: Open = %v, want %v", name, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Open: %v", name, err)
			continue
		}
		ph, pbody, err := wire.Parse(hexMsg(f["plain"]))
		if err != nil {
			t.Fatalf("%s: plain: %v", name, err)
		}
		key, _ := strconv.ParseUint(f["key"], 10, 16)
		sender, _ := strconv.ParseUint(f["sender"], 0, 64)
		counter, _ := strconv.ParseUint(f["counter"], 10, 64)
		ms, _ := strconv.ParseUint(f["time"], 10, 64)
		ph.Flags, ph.KeyID = wire.FlagAuth, uint16(key)
		if h != ph || !bytes.Equal(body, pbody) {
			t.Errorf("%s: opened %+v %x, want %+v %x", name, h, body, ph, pbody)
		}
		if fr != (wire.Freshness{Sender: sender, Counter: counter, Time: ms}) {
			t.Errorf("%s: freshness %+v", name, fr)
		}
		if err := parseBody(h, body); err != nil {
			t.Errorf("%s: opened body does not parse: %v", name, err)
		}
		types[h.Type] = true
	}
	for typ := range wire.Type(255) {
		if typ.Known() && !types[typ] {
			t.Errorf("no authenticated vector of type %v", typ)
		}
	}
	if n < len(plainVectors())+len(badVectors) {
		t.Errorf("%d vectors, want %d", n, len(plainVectors())+len(badVectors))
	}
}
