package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/client/clienttest"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/wire"
)

// lockedBuffer is a bytes.Buffer safe for the reader goroutine's writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runCLI runs udpcli in-process with stdin and returns stdout, stderr and
// the exit status.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb lockedBuffer
	code := run(ctx, args, cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

func responder(t *testing.T, addr string, b clienttest.Behavior) *clienttest.Responder {
	t.Helper()
	return clienttest.StartT(t, addr, b)
}

func deadPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := pc.LocalAddr().String()
	pc.Close()
	return a
}

func numberedLines(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "reading %03d\n", i)
	}
	return b.String()
}

func TestSendLines(t *testing.T) {
	for _, tt := range []struct {
		addr string
		b    clienttest.Behavior
		args []string
	}{
		{"127.0.0.1:0", clienttest.Behavior{}, nil},
		{"[::1]:0", clienttest.Behavior{}, []string{"-w", "16"}},
		{"127.0.0.1:0", clienttest.Behavior{DropIn: 0.3, DropOut: 0.3},
			[]string{"--timeout", "5ms", "--retries", "40", "--window", "8"}},
	} {
		t.Run(fmt.Sprint(tt.addr, tt.args), func(t *testing.T) {
			r := responder(t, tt.addr, tt.b)
			args := append([]string{"send", "--json", r.Addr()}, tt.args...) // flags after the address too
			out, stderr, code := runCLI(t, numberedLines(200), args...)
			if code != 0 {
				t.Fatalf("exit %d\nstderr: %s", code, stderr)
			}
			seen := map[int]bool{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var rec sendRecord
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("not JSON: %q", line)
				}
				if rec.Status != "acked" || rec.RTTms == nil || rec.Attempts < 1 || seen[rec.Seq] {
					t.Errorf("record %+v", rec)
				}
				seen[rec.Seq] = true
			}
			if len(seen) != 200 {
				t.Errorf("%d records, want 200", len(seen))
			}
			if !strings.Contains(stderr, "200 lines: 200 acknowledged, 0 failed\n") {
				t.Errorf("summary: %q", stderr)
			}
			if got := len(r.Handled()); got != 200 {
				t.Errorf("responder handled %d, want 200", got)
			}
		})
	}
}

func TestSendOneMessageHuman(t *testing.T) {
	r := responder(t, "127.0.0.1:0", clienttest.Behavior{})
	out, stderr, code := runCLI(t, "", "send", r.Addr(), "hello world")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`^1: acked in \d+\.\d+ ms \(1 attempt\)\n$`).MatchString(out) {
		t.Errorf("output %q", out)
	}
	if got := r.Handled(); len(got) != 1 || string(got[0]) != "hello world" {
		t.Errorf("handled %q", got)
	}
}

func TestSendRefused(t *testing.T) {
	addr := deadPort(t)
	// Long timeouts: only the ICMP error can end the run before the test's
	// context does.
	out, stderr, code := runCLI(t, numberedLines(50), "send", "--timeout", "60", addr)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, stderr)
	}
	if !strings.Contains(out, "refused: connection refused: nothing listening on "+addr) {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(stderr, "the rest of the input was not sent") {
		t.Errorf("stderr %q", stderr)
	}
	_, stderr, code = runCLI(t, "", "send", "--json", addr, "anyone?")
	if code != 1 || !strings.Contains(stderr, "refused") {
		t.Errorf("one message: exit %d, stderr %q", code, stderr)
	}
}

func TestSendSilentServerTimesOut(t *testing.T) {
	r := responder(t, "127.0.0.1:0", clienttest.Behavior{Silent: true})
	out, stderr, code := runCLI(t, "", "send", "--retries", "3", "--timeout", "0.005", r.Addr(), "hello?")
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	if !regexp.MustCompile(`^1: timed out after 4 attempts \(\d+\.\d s\)\n$`).MatchString(out) {
		t.Errorf("output %q", out)
	}
	if !strings.Contains(stderr, "1 message: 0 acknowledged, 1 failed\n") {
		t.Errorf("stderr %q", stderr)
	}
	if n := r.Datagrams(); n > 4 {
		t.Errorf("responder got %d datagrams, want at most 4", n)
	}
	if strings.Contains(stderr, "hint:") {
		t.Errorf("a hint without --key-file: %q", stderr)
	}
	// With a key, silence is most often a server without it: say so.
	t.Setenv(auth.EnvKeyFile, "")
	t.Setenv(auth.EnvKey, "")
	k, err := auth.GenerateKey(1, auth.RoleCurrent)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := auth.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "k.key")
	if err := auth.WriteFile(path, kr, false); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCLI(t, "", "send", "--key-file", path, "--retries", "1", "--timeout", "0.005", r.Addr(), "hello?")
	if code != 1 || !strings.Contains(stderr, "hint: no reply came; with --key-file the server must hold this key") {
		t.Errorf("keyed, no reply: exit %d, stderr %q", code, stderr)
	}
	// A server that answers without the key: replies came, none counted.
	plain := responder(t, "127.0.0.1:0", clienttest.Behavior{})
	_, stderr, code = runCLI(t, "", "send", "--key-file", path, "--retries", "1", "--timeout", "0.005", plain.Addr(), "hello?")
	if code != 1 || !strings.Contains(stderr, "came but failed authentication with this key") || strings.Contains(stderr, "no reply came") {
		t.Errorf("keyed, unauthenticated replies: exit %d, stderr %q", code, stderr)
	}
}

func TestAuthHint(t *testing.T) {
	for _, c := range []struct {
		keyed, silent bool
		st            client.Stats
		want          string // a part of the hint; "" for none
	}{
		{false, true, client.Stats{}, ""},
		{true, false, client.Stats{Unauthenticated: 3}, ""},
		{true, true, client.Stats{}, "hint: no reply came; with --key-file"},
		{true, true, client.Stats{Unauthenticated: 1}, "hint: 1 reply came but failed authentication"},
		{true, true, client.Stats{Unauthenticated: 1, BadAuth: 2}, "hint: 3 replies came but failed authentication"},
		{false, true, client.Stats{Unauthenticated: 2}, "hint: 2 replies came authenticated, so none counted: the server holds a key"},
	} {
		got := authHint(c.keyed, c.silent, c.st)
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("authHint(%v, %v, %+v) = %q, want %q", c.keyed, c.silent, c.st, got, c.want)
		}
	}
}

func TestSendRejected(t *testing.T) {
	r := responder(t, "127.0.0.1:0", clienttest.Behavior{Nack: wire.CodeRejected, NackReason: "bad\nreading"})
	out, _, code := runCLI(t, "", "send", r.Addr(), "temperature=9000")
	if code != 1 || out != "1: rejected (rejected): bad reading\n" {
		t.Errorf("exit %d, output %q", code, out)
	}
	out, _, _ = runCLI(t, "", "send", "--json", r.Addr(), "temperature=9000")
	var rec sendRecord
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.Status != "rejected" || rec.Code == nil || *rec.Code != 1 || *rec.Reason != "bad reading" {
		t.Errorf("record %s", out)
	}
}

func TestSendLongLines(t *testing.T) {
	r := responder(t, "127.0.0.1:0", clienttest.Behavior{})
	input := "short\n" + strings.Repeat("x", 70000) + "\n" + strings.Repeat("y", 1457) + "\r\nlast line without newline"
	out, stderr, code := runCLI(t, input, "send", r.Addr())
	if code != 2 {
		t.Errorf("exit %d, want 2 (bad input)", code)
	}
	for _, want := range []string{
		"2: error: line 2 is 70000 bytes; a datagram holds at most 1456 bytes of payload",
		"3: error: line 3 is 1457 bytes",
		"4: acked",
		"1: acked",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "4 lines: 2 acknowledged, 2 failed (2 too long, not sent)\n") {
		t.Errorf("stderr %q", stderr)
	}
	got := r.Handled()
	if len(got) != 2 {
		t.Fatalf("handled %q", got)
	}
}

func TestSendUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"send", "foo", "hi"}, `bad address "foo": no port; want HOST:PORT, e.g. 127.0.0.1:9797 or [::1]:9797`},
		{[]string{"send", "::1:9797", "hi"}, `IPv6 addresses need brackets`},
		{[]string{"send"}, "missing HOST:PORT"},
		{[]string{"send", "127.0.0.1:9", "a", "b"}, "too many arguments"},
		{[]string{"send", "--window", "0", "127.0.0.1:9"}, `--window "0": want 1 to 1024`},
		{[]string{"send", "--window", "1025", "127.0.0.1:9"}, `--window "1025": want 1 to 1024`},
		{[]string{"send", "--timeout", "soon", "127.0.0.1:9"}, "not a duration"},
		{[]string{"send", "--retries", "-1", "127.0.0.1:9"}, `--retries "-1": want 0 or more`},
		{[]string{"send", "--service", "_udpkit._udp", "127.0.0.1:9797"}, "either HOST:PORT or --service"},
		{[]string{"send", "--service", "udpkit", "hi"}, `--service "udpkit"`},
		{[]string{"send", "--service", "_udpkit._udp", "a", "b"}, "too many arguments"},
		{[]string{"send", "--service", "_udpkit._udp", "--discover-time", "0", "hi"}, "--discover-time"},
	}
	for _, tt := range tests {
		_, stderr, code := runCLI(t, "", tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

func TestSendHelp(t *testing.T) {
	out, _, code := runCLI(t, "", "send", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"echo hi | udpcli send 127.0.0.1:9797", "udpcli send --json [::1]:9797 hello", "seq 200 | udpcli send --window 16 127.0.0.1:9797", "--retries", "--window"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestFmtMs(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Microsecond: "0.045", 2345 * time.Microsecond: "2.35", 23456 * time.Microsecond: "23.5", 234567 * time.Microsecond: "235",
	} {
		if got := fmtMs(d); got != want {
			t.Errorf("fmtMs(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSendInterrupted(t *testing.T) {
	for _, json := range []bool{false, true} {
		r := responder(t, "127.0.0.1:0", clienttest.Behavior{Silent: true})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { // Ctrl-C once the datagram is out
			deadline := time.After(time.Minute)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for r.Datagrams() == 0 {
				select {
				case <-tick.C:
				case <-deadline:
					return
				}
			}
			cancel()
		}()
		args := []string{"send", "--timeout", "60", r.Addr(), "hello?"}
		if json {
			args = append(args, "--json")
		}
		var out, errb lockedBuffer
		code := run(ctx, args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb})
		if code != 1 || !strings.Contains(errb.String(), "udpcli send: interrupted") || strings.Contains(errb.String(), "--help") {
			t.Errorf("json %v: exit %d, stderr %q", json, code, errb.String())
		}
		want := "1: interrupted\n"
		if json {
			want = `"status":"interrupted"`
		}
		if got := out.String(); !strings.Contains(got, want) || strings.Contains(got, "context canceled") {
			t.Errorf("json %v: stdout %q, want %q", json, got, want)
		}
	}
}

func TestSendSummary(t *testing.T) {
	tests := []struct {
		unit                          string
		total, acked, failed, tooLong int
		want                          string
	}{
		{"line", 4, 2, 2, 2, "4 lines: 2 acknowledged, 2 failed (2 too long, not sent)"},
		{"line", 1, 1, 0, 0, "1 line: 1 acknowledged, 0 failed"},
		{"line", 0, 0, 0, 0, "0 lines: 0 acknowledged, 0 failed"},
		{"message", 1, 0, 1, 1, "1 message: 0 acknowledged, 1 failed (1 too long, not sent)"},
	}
	for _, tt := range tests {
		tally := client.SendTally{Total: tt.total, Acked: tt.acked, Failed: tt.failed, TooLarge: tt.tooLong}
		if got := sendSummary(&tally, tt.unit); got != tt.want {
			t.Errorf("sendSummary(%+v, %q) = %q, want %q", tally, tt.unit, got, tt.want)
		}
	}
	_, stderr, code := runCLI(t, "", "send", deadPort(t), strings.Repeat("z", 2000))
	if code != cli.ExitUsage || !strings.Contains(stderr, "1 message: 0 acknowledged, 1 failed (1 too long, not sent)\n") {
		t.Errorf("too long message: exit %d, stderr %q", code, stderr)
	}
}

// TestSendFile sends a binary file, CR, LF and NUL bytes included, as one
// datagram, byte for byte.
func TestSendFile(t *testing.T) {
	r, err := clienttest.Start("127.0.0.1:0", clienttest.Behavior{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	payload := []byte("line one\r\nline two\n\x00\xff binary tail\r")
	path := filepath.Join(t.TempDir(), "reading.bin")
	if err := os.WriteFile(path, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runCLI(t, "", "send", "-f", path, r.Addr()); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, string(payload), "send", "--file", "-", r.Addr()); code != 0 {
		t.Fatalf("stdin: exit %d: %s", code, stderr)
	}
	got := r.Handled()
	if len(got) != 2 || !bytes.Equal(got[0], payload) || !bytes.Equal(got[1], payload) {
		t.Errorf("server handled %q, want the file twice, unchanged", got)
	}
	big := filepath.Join(t.TempDir(), "big.bin")
	os.WriteFile(big, make([]byte, 2000), 0o644)
	for _, args := range [][]string{{"send", "-f", big, r.Addr()}, {"send", "-f", path, r.Addr(), "msg"}, {"send", "-f", "/nonexistent", r.Addr()}} {
		if _, _, code := runCLI(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// sendRecord decodes one --json line of send.
type sendRecord struct {
	Seq         int      `json:"seq"`
	ID          string   `json:"id"` // wire.IDString
	Status      string   `json:"status"`
	Attempts    int      `json:"attempts"`
	RTTms       *float64 `json:"rtt_ms,omitempty"`
	ElapsedMs   float64  `json:"elapsed_ms"`
	Code        *int     `json:"code,omitempty"`
	Reason      *string  `json:"reason,omitempty"`
	Error       string   `json:"error,omitempty"`
	Busy        int      `json:"busy,omitempty"`
	RateLimited int      `json:"rate_limited,omitempty"`
	Server      string   `json:"server,omitempty"`
	Addr        string   `json:"addr,omitempty"`
	Failovers   int      `json:"failovers,omitempty"`
}
