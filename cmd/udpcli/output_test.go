package main

import (
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
