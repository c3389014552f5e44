package cliflag

import (
	"io"
	"math"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func newFS() *pflag.FlagSet {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestInt(t *testing.T) {
	for _, tc := range []struct {
		args []string
		min  int
		want int
		err  string
	}{
		{nil, 0, 7, ""},
		{[]string{"-c", "0"}, 0, 0, ""},
		{[]string{"-c", "3"}, 1, 3, ""},
		{[]string{"-c", "-1"}, 0, 0, `-c/--count "-1": want 0 or more`},
		{[]string{"-c", "0"}, 1, 0, `-c/--count "0": want 1 or more`},
		{[]string{"-c", "x"}, 0, 0, `-c/--count "x": not a whole number`},
	} {
		fs := newFS()
		n := Count(fs, "count", "c", 7, tc.min, "count")
		err := fs.Parse(tc.args)
		switch {
		case tc.err == "" && (err != nil || *n != tc.want):
			t.Errorf("%v (min %d): %d, %v; want %d", tc.args, tc.min, *n, err, tc.want)
		case tc.err != "" && (err == nil || !strings.HasPrefix(ErrorText(err), tc.err)):
			t.Errorf("%v (min %d): error %v; want %q", tc.args, tc.min, err, tc.err)
		}
	}
}

func TestDatagramSize(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
		err  string
	}{
		{nil, 16 + 48, ""},
		{[]string{"-s", "0"}, 16, ""},
		{[]string{"-s", "84"}, 100, ""},
		{[]string{"-s", "85"}, 0, "-s/--size 85: want 0 to 84 payload bytes (the 16-byte header comes on top)"},
		{[]string{"-s", "-1"}, 0, "-s/--size -1: want 0 to 84"},
		{[]string{"--datagram-size", "16"}, 16, ""},
		{[]string{"--datagram-size", "100"}, 100, ""},
		{[]string{"--datagram-size", "15"}, 0, "--datagram-size 15: want 16 to 100 bytes"},
		{[]string{"--datagram-size", "101"}, 0, "--datagram-size 101: want 16 to 100 bytes"},
		{[]string{"-s", "1", "--datagram-size", "50"}, 0, "exclude each other"},
	} {
		fs := newFS()
		size := DatagramSize(fs, 48, 16, 100)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		got, err := size()
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%v: %d, %v; want %d", tc.args, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: error %v; want %q", tc.args, err, tc.err)
		}
	}
}

func TestIntRange(t *testing.T) {
	fs := newFS()
	ttl := Int(fs, "ttl", "", 1, 1, 255, "ttl")
	big := Int(fs, "big", "", 0, 0, math.MaxInt, "big")
	if err := fs.Parse([]string{"--ttl", "255", "--big", "1000000"}); err != nil || *ttl != 255 || *big != 1000000 {
		t.Fatalf("ttl %d big %d: %v", *ttl, *big, err)
	}
	for _, v := range []string{"0", "256", "-1"} {
		err := newFSParse(v)
		if got := ErrorText(err); got != `--ttl "`+v+`": want 1 to 255` {
			t.Errorf("--ttl %s: %q", v, got)
		}
	}
}

func newFSParse(ttl string) error {
	fs := newFS()
	Int(fs, "ttl", "", 1, 1, 255, "ttl")
	return fs.Parse([]string{"--ttl", ttl})
}

// TestSharedFlags: the shared flags parse as their commands expect (-I is
// repeatable and keeps commas, which go-sockaddr templates contain).
func TestSharedFlags(t *testing.T) {
	fs := newFS()
	j := JSON(fs)
	var ifs []string
	Interfaces(fs, &ifs)
	if err := fs.Parse([]string{"--json", "-I", "lo", "--iface", `{{ GetAllInterfaces | include "name" "a,b" }}`}); err != nil {
		t.Fatal(err)
	}
	if !*j || len(ifs) != 2 || ifs[0] != "lo" || !strings.Contains(ifs[1], "a,b") {
		t.Errorf("json %v, ifaces %q", *j, ifs)
	}
}
