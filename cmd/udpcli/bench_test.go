package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/client/clienttest"
	"github.com/udpkit/udpkit/udpserver"
)

func TestBench(t *testing.T) {
	for _, tc := range []struct {
		kind  string
		conns int
	}{{"data", 1}, {"ping", 1}, {"data", 3}} {
		kind := tc.kind
		t.Run(fmt.Sprintf("%s/conns=%d", kind, tc.conns), func(t *testing.T) {
			r, err := clienttest.Start("127.0.0.1:0", clienttest.Behavior{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			args := []string{"bench", "--json", "-d", "0.3", "--inflight", "8", "--conns", strconv.Itoa(tc.conns), r.Addr()}
			if kind == "ping" {
				args = append(args, "--ping")
			}
			out, stderr, code := runBench(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var res benchResult
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v: %q", err, out)
			}
			if res.Replies == 0 || res.Kind != kind || res.Conns != tc.conns || res.Sent < res.Replies || res.P50 <= 0 || res.P99 < res.P50 {
				t.Errorf("implausible result %+v", res)
			}
			if kind == "data" && len(r.Handled()) < res.Replies {
				t.Errorf("responder handled %d, bench counted %d replies", len(r.Handled()), res.Replies)
			}
		})
	}
}

// runBench runs a short bench (args has "-d", "D"); when no reply came
// within D, as on a loaded machine whose bench loop or responder did not
// run for D, it runs it again with D five times longer, twice at most, so
// that a stall does not fail a test about what the replies say.
func runBench(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	args = slices.Clone(args)
	d := slices.Index(args, "-d") + 1
	if d == 0 {
		t.Fatalf("runBench %q: no -d", args)
	}
	for try := 0; ; try++ {
		out, stderr, code := runCLI(t, "", args...)
		if try == 2 || code != 1 || !strings.Contains(stderr, "no reply came") {
			return out, stderr, code
		}
		secs, err := strconv.ParseFloat(args[d], 64)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("bench -d %s: no reply came; again with -d %g", args[d], 5*secs)
		args[d] = strconv.FormatFloat(5*secs, 'g', -1, 64)
	}
}

// TestBenchSize: -s is the payload after the header, as ping's -s;
// --datagram-size the whole request (the old -s).
func TestBenchSize(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		payload int
	}{
		{nil, 104},
		{[]string{"-s", "10"}, 10},
		{[]string{"-s", "0"}, 0},
		{[]string{"--datagram-size", "120"}, 104},
	} {
		r, err := clienttest.Start("127.0.0.1:0", clienttest.Behavior{})
		if err != nil {
			t.Fatal(err)
		}
		args := append([]string{"bench", "--json", "-d", "0.2", r.Addr()}, tc.args...)
		out, stderr, code := runBench(t, args...)
		r.Close()
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		var res benchResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %q", err, out)
		}
		h := r.Handled()
		if len(h) == 0 {
			t.Fatalf("%v: nothing handled", tc.args)
		}
		if res.Size != tc.payload || len(h[0]) != tc.payload {
			t.Errorf("%v: JSON size %d, first payload %d bytes; want %d", tc.args, res.Size, len(h[0]), tc.payload)
		}
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
		{[]string{"bench", "-s", "1457", "127.0.0.1:9"}, 2, "--size"},
		{[]string{"bench", "-s", "-1", "127.0.0.1:9"}, 2, "--size"},
		{[]string{"bench", "--datagram-size", "8", "127.0.0.1:9"}, 2, "--datagram-size"},
		{[]string{"bench", "-s", "8", "--datagram-size", "100", "127.0.0.1:9"}, 2, "exclude"},
		{[]string{"bench", "--conns", "0", "127.0.0.1:9"}, 2, "--conns"},
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
	// The refusal ends the bench at once; the long duration only keeps a
	// loop stalled past its end on a loaded machine from stopping before
	// it read the refusal (exit 1 with "no reply came" instead).
	_, stderr, code := runCLI(t, "", "bench", "-d", "30", addr)
	if code != 1 || !strings.Contains(stderr, "refused") {
		t.Errorf("bench to a closed port: exit %d, %q; want 1 and refused", code, stderr)
	}
}

// TestBenchKeyFile runs bench --key-file against a real keyed udpserver:
// with its key file the replies come; with another key or none the server
// answers nothing and bench exits 1.
func TestBenchKeyFile(t *testing.T) {
	t.Setenv(auth.EnvKeyFile, "")
	t.Setenv(auth.EnvKey, "")
	dir := t.TempDir()
	keyFile := func(name string) (string, *auth.Keyring) {
		k, err := auth.GenerateKey(1, auth.RoleCurrent)
		if err != nil {
			t.Fatal(err)
		}
		kr, err := auth.NewKeyring(k)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := auth.WriteFile(path, kr, false); err != nil {
			t.Fatal(err)
		}
		return path, kr
	}
	good, keys := keyFile("good.key")
	wrong, _ := keyFile("wrong.key")
	var runs atomic.Int64
	s := &udpserver.Server{Keys: keys, Handler: udpserver.HandlerFunc(func(context.Context, *udpserver.Request) error {
		runs.Add(1)
		return nil
	})}
	pc, err := udpserver.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	s.Stats() // fixes the server's start, the time floor of authentication
	go s.Serve(pc)
	defer s.Close()
	addr := pc.LocalAddr().String()

	out, stderr, code := runBench(t, "bench", "--json", "-d", "0.3", "--inflight", "4", "--conns", "2", "--key-file", good, addr)
	if code != 0 {
		t.Fatalf("with the key: exit %d: %s", code, stderr)
	}
	var res benchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if res.Replies == 0 || runs.Load() < int64(res.Replies) {
		t.Errorf("with the key: %+v, server handled %d", res, runs.Load())
	}
	// The last requests in flight: wait until the handler has been idle
	// for 300 ms (a loaded machine may serve queued ones late).
	before := runs.Load()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		now := runs.Load()
		if now == before {
			break
		}
		before = now
	}
	for name, args := range map[string][]string{"wrong key": {"--key-file", wrong}, "no key": nil} {
		args = append(append([]string{"bench", "-d", "0.3", "-W", "0.1"}, args...), addr)
		_, stderr, code := runCLI(t, "", args...)
		if code != 1 || !strings.Contains(stderr, "no reply came") {
			t.Errorf("%s: exit %d, stderr %q; want 1, no reply", name, code, stderr)
		}
	}
	if got := runs.Load(); got != before {
		t.Errorf("handler ran %d times for requests without the key", got-before)
	}
}
