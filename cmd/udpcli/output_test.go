package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

// TestPrintable: a datagram's text is cut to 200 bytes at a character
// boundary, never dropped because the cut fell inside a character.
func TestPrintable(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"short", "hello\r\n", "hello"},
		{"tab", "a\tb", "a\tb"},
		{"control", "a\x00b", ""},
		{"invalid", "a\xffb", ""},
		{"200 ascii", strings.Repeat("a", 200), strings.Repeat("a", 200)},
		{"201 ascii", strings.Repeat("a", 201), strings.Repeat("a", 200)},
		// 199 bytes then a 2-byte é: the 201-byte text is valid UTF-8,
		// the cut at 200 falls inside é, which goes whole.
		{"cut inside a rune", strings.Repeat("a", 199) + "é", strings.Repeat("a", 199)},
		{"cut inside a 4-byte rune", strings.Repeat("a", 198) + "😀x", strings.Repeat("a", 198)},
		{"rune ends at 200", strings.Repeat("a", 198) + "é" + "zz", strings.Repeat("a", 198) + "é"},
		{"multibyte only", strings.Repeat("é", 150), strings.Repeat("é", 100)},
		{"invalid after the cut", strings.Repeat("a", 200) + "\xff", strings.Repeat("a", 200)},
		{"newline kept inside", "a\nb", ""},
	}
	for _, tt := range tests {
		if got := printable([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: printable(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// TestObject: an object encodes as the tagged struct it replaces would:
// pairs in order, omit as omitempty/omitzero, nil as null, strings escaped
// as json.Encoder escapes them.
func TestObject(t *testing.T) {
	type tagged struct {
		B    bool           `json:"b"`
		S    string         `json:"s,omitempty"`
		N    int            `json:"n,omitempty"`
		L    []string       `json:"l,omitempty"`
		A    netip.Addr     `json:"a,omitzero"`
		P    netip.AddrPort `json:"p"`
		K    *float64       `json:"k"`
		Text string         `json:"text"`
	}
	one := 1.5
	for _, tc := range []struct {
		st  tagged
		obj object
	}{
		{tagged{Text: "<&>"}, object{"b", false, "s", omit(""), "n", omit(0), "l", omit([]string{}), "a", omit(netip.Addr{}), "p", netip.AddrPort{}, "k", nil, "text", "<&>"}},
		{tagged{B: true, S: "x\n", N: -1, L: []string{"y"}, A: netip.MustParseAddr("fd18::1"), P: netip.MustParseAddrPort("198.18.0.1:9"), K: &one, Text: "\u2028"},
			object{"b", true, "s", omit("x\n"), "n", omit(-1), "l", omit([]string{"y"}), "a", omit(netip.MustParseAddr("fd18::1")), "p", netip.MustParseAddrPort("198.18.0.1:9"), "k", &one, "text", "\u2028"}},
	} {
		var want, got bytes.Buffer
		if err := json.NewEncoder(&want).Encode(tc.st); err != nil {
			t.Fatal(err)
		}
		if err := json.NewEncoder(&got).Encode(tc.obj); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("object encodes as\n%s\nthe struct as\n%s", got.String(), want.String())
		}
	}
}
