package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/client/clienttest"
	"github.com/udpkit/udpkit/udpserver"
)

func TestBench(t *testing.T) {
	for _, kind := range []string{"data", "ping"} {
		t.Run(kind, func(t *testing.T) {
			r, err := clienttest.Start("127.0.0.1:0", clienttest.Behavior{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			args := []string{"bench", "--json", "-d", "0.3", "--inflight", "8", r.Addr()}
			if kind == "ping" {
				args = append(args, "--ping")
			}
			out, stderr, code := runCLI(t, "", args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var res benchResult
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v: %q", err, out)
			}
			if res.Replies == 0 || res.Kind != kind || res.Sent < res.Replies || res.P50 <= 0 || res.P99 < res.P50 {
				t.Errorf("implausible result %+v", res)
			}
			if kind == "data" && len(r.Handled()) < res.Replies {
				t.Errorf("responder handled %d, bench counted %d replies", len(r.Handled()), res.Replies)
			}
		})
	}
}

func TestBenchErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bench"}, 2, "HOST:PORT"},
		{[]string{"bench", "--inflight", "0", "127.0.0.1:9"}, 2, "--inflight"},
		{[]string{"bench", "-s", "8", "127.0.0.1:9"}, 2, "--size"},
		{[]string{"bench", "nonsense"}, 2, "bad address"},
	} {
		_, stderr, code := runCLI(t, "", tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	// Nothing listens: refused, exit 1.
	r, err := clienttest.Start("127.0.0.1:0", clienttest.Behavior{})
	if err != nil {
		t.Fatal(err)
	}
	addr := r.Addr()
	r.Close()
	_, stderr, code := runCLI(t, "", "bench", "-d", "0.2", addr)
	if code != 1 || !strings.Contains(stderr, "refused") {
		t.Errorf("bench to a closed port: exit %d, %q; want 1 and refused", code, stderr)
	}
}

// TestBenchKeyFile: bench --key-file against a udpserver with the same
// keys gets sealed replies; with another key, none (every request lost).
func TestBenchKeyFile(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	var rings []*auth.Keyring
	for i := range 2 {
		k, err := auth.GenerateKey(1, auth.RoleCurrent)
		if err != nil {
			t.Fatal(err)
		}
		kr, err := auth.NewKeyring(k)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("k%d", i))
		if err := auth.WriteFile(p, kr, false); err != nil {
			t.Fatal(err)
		}
		paths, rings = append(paths, p), append(rings, kr)
	}
	s := &udpserver.Server{Keys: rings[0]}
	s.Stats() // its start is the time floor of authentication
	pc, err := udpserver.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	go s.Serve(pc)
	defer s.Close()
	for i, p := range paths {
		out, stderr, code := runCLI(t, "", "bench", "--json", "-d", "0.3", "-W", "0.1", "--key-file", p, pc.LocalAddr().String())
		if i == 1 {
			if code != 1 || !strings.Contains(stderr, "no reply") {
				t.Errorf("wrong key: exit %d, %s; want 1 and no reply", code, stderr)
			}
			continue
		}
		if code != 0 {
			t.Fatalf("key %d: exit %d: %s", i, code, stderr)
		}
		var res benchResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %q", err, out)
		}
		if res.Replies == 0 || res.Size != 120 {
			t.Errorf("key %d: %+v", i, res)
		}
	}
	if st := s.Stats(); st.Handled == 0 || st.BadTag == 0 {
		t.Errorf("server stats %+v", st)
	}
}
