package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/client/clienttest"
	"github.com/udpkit/udpkit/internal/cli"
)

func TestPingCount(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			r := responder(t, addr, clienttest.Behavior{})
			out, stderr, code := runCLI(t, "", "ping", "-c", "5", "-i", "0.01", r.Addr())
			if code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, stderr, out)
			}
			lines := strings.Split(out, "\n")
			if want := "PING " + r.Addr() + " (" + r.Addr() + ") 56 bytes of data."; lines[0] != want {
				t.Errorf("first line %q, want %q", lines[0], want)
			}
			reply := regexp.MustCompile(`^72 bytes from ` + regexp.QuoteMeta(r.Addr()) + `: seq=[1-5] time=\d+\.\d+ ms$`)
			for _, l := range lines[1:6] {
				if !reply.MatchString(l) {
					t.Errorf("reply line %q", l)
				}
			}
			if lines[6] != "" || lines[7] != "--- "+r.Addr()+" ping statistics ---" {
				t.Errorf("summary header %q", lines[6:8])
			}
			if !regexp.MustCompile(`^5 packets transmitted, 5 received, 0% packet loss, time \d+ms$`).MatchString(lines[8]) {
				t.Errorf("statistics %q", lines[8])
			}
			if !regexp.MustCompile(`^rtt min/avg/max/mdev = \d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3} ms$`).MatchString(lines[9]) {
				t.Errorf("rtt line %q", lines[9])
			}
			if r.Pings() != 5 {
				t.Errorf("responder got %d pings", r.Pings())
			}
		})
	}
}

func TestPingDuplicatesAndJSON(t *testing.T) {
	r := responder(t, "127.0.0.1:0", clienttest.Behavior{Extra: 1})
	out, _, code := runCLI(t, "", "ping", "-c", "3", "-i", "0.01", "-s", "10", "-W", "5", r.Addr())
	if code != 0 || strings.Count(out, "(DUP!)") < 1 || !strings.Contains(out, "3 packets transmitted, 3 received, +") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	out, _, code = runCLI(t, "", "ping", "--json", "-c", "2", "-i", "0.01", r.Addr())
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum["type"] != "summary" || sum["sent"] != 2.0 || sum["replies"] != 2.0 {
		t.Errorf("summary %s (%v)", lines[len(lines)-1], err)
	}
	if _, ok := sum["rtt_avg_ms"]; !ok {
		t.Errorf("summary lacks rtt_avg_ms: %v", sum)
	}
	for _, l := range lines[:len(lines)-1] {
		var rec pingRecordJSON
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Type != "reply" || rec.Size != 56 || rec.RTTms == nil {
			t.Errorf("reply %s", l)
		}
	}
}

func TestPingNothingListening(t *testing.T) {
	addr := deadPort(t)
	out, _, code := runCLI(t, "", "ping", "-c", "3", "-i", "0.01", "-W", "5", addr)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if n := strings.Count(out, "Destination Port Unreachable"); n != 3 {
		t.Errorf("%d unreachable lines, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, "3 packets transmitted, 0 received, +3 errors, 100% packet loss") || strings.Contains(out, "rtt ") {
		t.Errorf("summary:\n%s", out)
	}
}

func TestPingSilentServer(t *testing.T) {
	r := responder(t, "127.0.0.1:0", clienttest.Behavior{Silent: true})
	out, _, code := runCLI(t, "", "ping", "-q", "-c", "2", "-i", "0.01", "-W", "0.05", r.Addr())
	if code != 1 || !strings.Contains(out, "2 packets transmitted, 0 received, 100% packet loss") || strings.Contains(out, "bytes from") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestPingInterrupted(t *testing.T) {
	r := responder(t, "127.0.0.1:0", clienttest.Behavior{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var out lockedBuffer
	code := run(ctx, []string{"ping", "-i", "0.01", r.Addr()}, cli.IO{In: strings.NewReader(""), Out: &out, Err: &out})
	if code != 0 || !strings.Contains(out.String(), "ping statistics") {
		t.Errorf("exit %d:\n%s", code, out.String())
	}
}

func TestPingDeadline(t *testing.T) {
	r := responder(t, "127.0.0.1:0", clienttest.Behavior{Silent: true})
	out, _, code := runCLI(t, "", "ping", "-w", "0.1", "-i", "0.02", r.Addr())
	if code != 1 || !strings.Contains(out, "ping statistics") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestPingUsage(t *testing.T) {
	for _, args := range [][]string{
		{"ping"},
		{"ping", "foo"},
		{"ping", "-c", "-1", "127.0.0.1:9"},
		{"ping", "-i", "0", "127.0.0.1:9"},
		{"ping", "-s", "70000", "127.0.0.1:9"},
		{"ping", "127.0.0.1:9", "extra"},
	} {
		_, stderr, code := runCLI(t, "", args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
}

// pingRecordJSON decodes one --json reply line of ping.
type pingRecordJSON struct {
	Type  string   `json:"type"`
	Seq   int      `json:"seq"`
	ID    string   `json:"id"` // wire.IDString
	Addr  string   `json:"addr"`
	Size  int      `json:"size,omitempty"` // payload bytes, as -s (the text line counts the header too)
	RTTms *float64 `json:"rtt_ms,omitempty"`
	Dup   bool     `json:"duplicate,omitempty"`
	Error string   `json:"error,omitempty"`
}
