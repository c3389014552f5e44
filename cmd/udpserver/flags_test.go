package main

import (
	"io"
	"testing"
)

// --rate-burst follows --rate-limit unless given: with --rate-limit 10/s a
// source must not be admitted 2000 datagrams at once. The burst the
// command passes is 0 (the library default, a fifth of the rate, at least
// 1) unless --rate-burst is on the command line.
func TestRateBurstFollowsRateLimit(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		burst int
	}{
		{[]string{"--rate-limit", "10/s"}, 0},
		{[]string{}, 0},
		{[]string{"--rate-limit", "10/s", "--rate-burst", "50"}, 50},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if o.rateBurst != tc.burst {
			t.Errorf("%v: burst %d, want %d", tc.args, o.rateBurst, tc.burst)
		}
	}
	if _, err := parseFlags([]string{"--rate-burst", "0"}, io.Discard); err == nil {
		t.Error("--rate-burst 0 accepted")
	}
}
