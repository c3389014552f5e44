package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

const waitTimeout = 10 * time.Second

// syncBuffer is a bytes.Buffer safe for the server's and the test's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listeningAddrs extracts the bound addresses from JSON log lines.
func listeningAddrs(logs string) []string {
	var addrs []string
	for _, line := range strings.Split(logs, "\n") {
		var m struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "listening" {
			addrs = append(addrs, m.Addr)
		}
	}
	return addrs
}

// start runs run() in-process and returns the first bound address, the
// buffers and a function that stops it and returns its exit status.
func start(t *testing.T, args ...string) (string, *syncBuffer, *syncBuffer, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	status := make(chan int, 1)
	go func() { status <- run(ctx, append([]string{"--log-format", "json"}, args...), stdout, stderr) }()
	stop := func() int {
		cancel()
		select {
		case s := <-status:
			return s
		case <-time.After(waitTimeout):
			t.Fatal("run did not return after its context ended")
			return -1
		}
	}
	t.Cleanup(func() { cancel() })
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if addrs := listeningAddrs(stderr.String()); len(addrs) > 0 {
			return addrs[0], stdout, stderr, stop
		}
		select {
		case s := <-status:
			t.Fatalf("run exited with %d: %s", s, stderr)
		case <-time.After(5 * time.Millisecond): // polling the log, not a correctness wait
		}
	}
	t.Fatalf("no listening line in the log: %s", stderr)
	return "", nil, nil, nil
}

func exchange(t *testing.T, c net.Conn, msg []byte) []byte {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2000)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func TestRunWritesJSONLines(t *testing.T) {
	addr, stdout, stderr, stop := start(t, "--listen", "127.0.0.1:0")
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r := exchange(t, c, wire.AppendData(nil, 5, []byte("hello"))); !bytes.Equal(r, wire.AppendAck(nil, 5)) {
		t.Fatalf("reply %x", r)
	}
	// The ACK follows the line: it is there already.
	var rec map[string]any
	if err := json.Unmarshal([]byte(stdout.String()), &rec); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	if rec["from"] != c.LocalAddr().String() || rec["to"] != addr || rec["id"] != "0000000000000005" || rec["raw"] != false || rec["size"] != 5.0 || rec["text"] != "hello" {
		t.Errorf("record %v", rec)
	}
	if _, err := time.Parse(time.RFC3339Nano, rec["time"].(string)); err != nil {
		t.Errorf("time: %v", err)
	}
	exchange(t, c, wire.AppendData(nil, 5, []byte("hello")))                // duplicate: no line
	exchange(t, c, wire.Append(nil, wire.Header{Type: wire.TypePing}, nil)) // ping: no line
	exchange(t, c, wire.AppendData(nil, 6, []byte{0xff, 0x00}))             // binary
	if r := exchange(t, c, []byte("raw\n")); string(r) != "ack\n" {
		t.Errorf("raw reply %q", r)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), stdout)
	}
	if !strings.Contains(lines[1], `"base64":"/wA="`) || strings.Contains(lines[1], `"text"`) {
		t.Errorf("binary line %s", lines[1])
	}
	if !strings.Contains(lines[2], `"raw":true`) || !strings.Contains(lines[2], `"id":"0000000000000000"`) {
		t.Errorf("raw line %s", lines[2])
	}
	if s := stop(); s != exitOK {
		t.Errorf("exit %d; %s", s, stderr)
	}
}

func TestRunQuiet(t *testing.T) {
	addr, stdout, _, stop := start(t, "--listen", "127.0.0.1:0", "--quiet")
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r := exchange(t, c, wire.AppendData(nil, 1, []byte("x"))); !bytes.Equal(r, wire.AppendAck(nil, 1)) {
		t.Fatalf("reply %x", r)
	}
	stop()
	if stdout.String() != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
}

// failingWriter refuses every write, like a closed stdout pipe.
type failingWriter struct{}

func (failingWriter) Write(p []byte) (int, error) { return 0, syscall.EPIPE }

func TestRunStdoutFailureNacksBusy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--log-format", "json", "--listen", "127.0.0.1:0"}, failingWriter{}, stderr)
	}()
	var addr string
	for deadline := time.Now().Add(waitTimeout); addr == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if a := listeningAddrs(stderr.String()); len(a) > 0 {
			addr = a[0]
		}
	}
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, _, err := wire.Parse(exchange(t, c, wire.AppendData(nil, 1, []byte("a message"))))
	if err != nil || h.Type != wire.TypeNack || h.Code != wire.CodeBusy {
		t.Errorf("reply %+v %v, want NACK busy", h, err)
	}
	// Nothing can be recorded any more: the server stops by itself, with
	// status 1, so that a pipeline such as "udpserver | head -1" ends.
	select {
	case s := <-done:
		if s != exitFailed {
			t.Errorf("exit %d after stdout failed, want %d", s, exitFailed)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the server kept running after stdout failed")
	}
	if !strings.Contains(stderr.String(), "cannot write to stdout") {
		t.Errorf("no log line about stdout: %s", stderr)
	}
}

func TestRunDefaultPairOnPortZero(t *testing.T) {
	_, _, stderr, stop := start(t, "--listen", ":0")
	stop()
	addrs := listeningAddrs(stderr.String())
	if len(addrs) == 0 || !strings.HasPrefix(addrs[0], "0.0.0.0:") {
		t.Fatalf("addresses %v", addrs)
	}
	if len(addrs) == 2 {
		_, p4, _ := net.SplitHostPort(addrs[0])
		_, p6, _ := net.SplitHostPort(addrs[1])
		if p4 != p6 || !strings.HasPrefix(addrs[1], "[::]:") {
			t.Errorf("addresses %v, want 0.0.0.0 and [::] on one port", addrs)
		}
	}
}

func TestRunUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--listen", "nonsense"},
		{"--listen", "127.0.0.1:99999"},
		{"--max-size", "8"},
		{"--log-level", "loud"},
		{"--log-format", "xml"},
		{"--no-such-flag"},
		{"127.0.0.1:9797"},
		{"--metrics", "9100"},
		{"--metrics", "127.0.0.1:http"},
		{"--mdns", "--mdns-service", "udpkit"},
		{"--mdns", "--mdns-service", "_toolongservicename._udp"},
		{"--dedup-entries", "0"},
		{"--dedup-per-source", "-1"},
		{"--dedup-window", "0"},
	} {
		var stderr bytes.Buffer
		if s := run(context.Background(), args, io.Discard, &stderr); s != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, s, exitUsage)
		}
		if !strings.Contains(stderr.String(), "--help") {
			t.Errorf("%v: message %q does not say how to get help", args, stderr.String())
		}
	}
	var stdout bytes.Buffer
	if s := run(context.Background(), []string{"--help"}, &stdout, io.Discard); s != exitOK || !strings.Contains(stdout.String(), "Examples:") {
		t.Errorf("--help: exit %d, %q (want the usage on stdout)", s, stdout.String())
	}
	for _, args := range [][]string{{"--listen", "1.2.3.4.5:9797"}, {"--listen", "[fe80::zz]:9797"}} {
		var stderr bytes.Buffer // an address that is no address never reaches a resolver
		if s := run(context.Background(), args, io.Discard, &stderr); s != exitUsage || !strings.Contains(stderr.String(), "not an IP address") {
			t.Errorf("%v: exit %d, %q", args, s, stderr.String())
		}
	}
}

// TestRunVersionAndMan: --version says something useful without VCS
// stamping, and --man prints a page made from --help.
func TestRunVersionAndMan(t *testing.T) {
	var out bytes.Buffer
	if s := run(context.Background(), []string{"--version"}, &out, io.Discard); s != exitOK || !strings.HasPrefix(out.String(), "udpserver ") || !strings.Contains(out.String(), "go1") {
		t.Errorf("--version: exit %d, %q", s, out.String())
	}
	out.Reset()
	if s := run(context.Background(), []string{"--help"}, &out, io.Discard); s != exitOK || !strings.Contains(out.String(), "--version") || !strings.Contains(out.String(), "--metrics") {
		t.Errorf("--help does not list --version and --metrics: %q", out.String())
	}
	out.Reset()
	if s := run(context.Background(), []string{"--man"}, &out, io.Discard); s != exitOK || !strings.HasPrefix(out.String(), ".TH UDPSERVER 1") || !strings.Contains(out.String(), `\-\-rate\-limit`) {
		t.Errorf("--man: exit %d, %q", s, out.String())
	}
}

// TestRunMetricsPortTaken: a --metrics address that cannot be bound stops
// the server at once with status 1, before it serves anything.
func TestRunMetricsPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	defer ln.Close()
	var stderr syncBuffer
	s := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--metrics", ln.Addr().String()}, io.Discard, &stderr)
	if s != exitFailed || !strings.Contains(stderr.String(), "cannot serve metrics") {
		t.Errorf("exit %d, %q", s, stderr.String())
	}
}

// TestBinary builds udpserver and runs it as a real process: 200 DATA
// messages give exactly 200 JSON lines, and SIGTERM stops it with status 0.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "udpserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--log-format", "json")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	addrc := make(chan string, 1)
	logs := &syncBuffer{}
	go func() {
		sc := bufio.NewScanner(stderrPipe)
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			if a := listeningAddrs(sc.Text()); len(a) > 0 {
				addrc <- a[0]
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(waitTimeout):
		t.Fatalf("no listening line: %s", logs)
	}
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 100)
	for i := range 200 {
		msg := wire.AppendData(nil, uint64(1000+i), []byte("message "+string(rune('a'+i%26))))
		acked := false
		for attempt := 0; attempt < 5 && !acked; attempt++ { // retransmit as a client would
			c.Write(msg)
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if err == nil {
				h, _, _ := wire.Parse(buf[:n])
				acked = h.Type == wire.TypeAck && h.ID == uint64(1000+i)
			}
		}
		if !acked {
			t.Fatalf("message %d not acknowledged", i)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, logs)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 200 {
		t.Fatalf("%d lines, want 200", len(lines))
	}
	for i, l := range lines {
		var rec struct {
			ID   string
			Text string
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.ID != wire.IDString(uint64(1000+i)) {
			t.Fatalf("line %d: %q (%v)", i, l, err)
		}
	}

}
