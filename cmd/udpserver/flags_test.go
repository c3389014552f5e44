package main

import (
	"io"
	"os"
	"path/filepath"
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

// --key-file (or $UDPKIT_KEY) loads the keyring; a missing file, a file
// others may write, or a bad line is a usage error, never a server that
// silently runs without authentication.
func TestKeyFileFlag(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "lan.key")
	if err := os.WriteFile(good, []byte("current 3 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open.key")
	if err := os.WriteFile(open, []byte("current 3 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o666)
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("current 3 nothex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("UDPKIT_KEY_FILE", "")
	t.Setenv("UDPKIT_KEY", "")
	o, err := parseFlags([]string{"--key-file", good}, io.Discard)
	if err != nil || o.keys == nil || o.keys.Current() != 3 {
		t.Fatalf("--key-file %s: %v, keys %v", good, err, o.keys)
	}
	if o, err := parseFlags(nil, io.Discard); err != nil || o.keys != nil {
		t.Fatalf("no key: %v, keys %v", err, o.keys)
	}
	for _, path := range []string{filepath.Join(dir, "missing.key"), open, bad} {
		if _, err := parseFlags([]string{"--key-file", path}, io.Discard); err == nil {
			t.Errorf("--key-file %s accepted", path)
		}
	}
	t.Setenv("UDPKIT_KEY", "current 4 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	if o, err := parseFlags(nil, io.Discard); err != nil || o.keys == nil || o.keys.Current() != 4 {
		t.Fatalf("$UDPKIT_KEY: %v", err)
	}
	if code := run(t.Context(), []string{"--key-file", bad}, io.Discard, io.Discard); code != exitUsage {
		t.Errorf("run with a bad key file: status %d, want %d", code, exitUsage)
	}
}
