package main

import "testing"

func TestOneProcBesideBroker(t *testing.T) {
	for _, tc := range []struct {
		env  string
		ncpu int
		addr string
		want bool
	}{
		{"", 2, "127.0.0.1:4222", true},
		{"", 1, "[::1]:4222", true},
		{"", 2, "[::ffff:127.0.0.1]:4222", true},
		{"", 4, "127.0.0.1:4222", false},  // room for both
		{"2", 2, "127.0.0.1:4222", false}, // the user chose
		{"", 2, "198.18.0.1:4222", false}, // broker elsewhere
		{"", 2, "", false},                // not connected
		{"", 2, "localhost:4222", false},  // never resolved
	} {
		if got := oneProcBesideBroker(tc.env, tc.ncpu, tc.addr); got != tc.want {
			t.Errorf("oneProcBesideBroker(%q, %d, %q) = %v, want %v", tc.env, tc.ncpu, tc.addr, got, tc.want)
		}
	}
}
