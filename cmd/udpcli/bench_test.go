package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/udpkit/udpkit/client/clienttest"
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
			out, stderr, code := runCLI(t, "", args...)
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

func TestBenchErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bench"}, 2, "HOST:PORT"},
		{[]string{"bench", "--inflight", "0", "127.0.0.1:9"}, 2, "--inflight"},
		{[]string{"bench", "-s", "8", "127.0.0.1:9"}, 2, "--size"},
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
	_, stderr, code := runCLI(t, "", "bench", "-d", "0.2", addr)
	if code != 1 || !strings.Contains(stderr, "refused") {
		t.Errorf("bench to a closed port: exit %d, %q; want 1 and refused", code, stderr)
	}
}
