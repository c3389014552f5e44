package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// bins holds the paths of the binaries built once for all tests.
var bins struct {
	once      sync.Once
	err       error
	server    string
	cli       string
	buildRoot string
}

// build compiles cmd/udpserver and cmd/udpcli into a temporary directory.
func build(t *testing.T) (server, cli string) {
	t.Helper()
	bins.once.Do(func() {
		dir, err := os.MkdirTemp("", "udpkit-e2e-")
		if err != nil {
			bins.err = err
			return
		}
		bins.buildRoot = dir
		for _, name := range []string{"udpserver", "udpcli"} {
			out := filepath.Join(dir, name)
			cmd := exec.Command("go", "build", "-race", "-o", out, "github.com/udpkit/udpkit/cmd/"+name)
			if b, err := cmd.CombinedOutput(); err != nil {
				bins.err = fmt.Errorf("go build %s: %v\n%s", name, err, b)
				return
			}
		}
		bins.server = filepath.Join(dir, "udpserver")
		bins.cli = filepath.Join(dir, "udpcli")
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.server, bins.cli
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.buildRoot != "" {
		os.RemoveAll(bins.buildRoot)
	}
	os.Exit(code)
}

// freePort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// netns is a network namespace kept alive by a sleeping process; commands
// enter it with nsenter.
type netns struct {
	holder *exec.Cmd
	pid    int
}

// newNetns creates a namespace with loopback up, or skips the test.
func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create a network namespace (run the tests as root, as CI does)")
	}
	for _, tool := range []string{"unshare", "nsenter", "ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not installed (apt-get install util-linux iproute2 nftables)", tool)
		}
	}
	holder := exec.Command("unshare", "-n", "sleep", "3600")
	if err := holder.Start(); err != nil {
		t.Skipf("skipping: cannot create a network namespace: %v", err)
	}
	ns := &netns{holder: holder, pid: holder.Process.Pid}
	t.Cleanup(func() {
		holder.Process.Kill()
		holder.Wait()
	})
	// unshare may not have switched namespaces yet when Start returns: wait
	// until the holder's namespace differs from ours.
	self, _ := os.Readlink("/proc/self/ns/net")
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", ns.pid))
		if err == nil && got != self {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("namespace holder did not enter a new network namespace")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ns.run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// command returns a command that runs inside the namespace.
func (ns *netns) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	full := append([]string{"-t", fmt.Sprint(ns.pid), "-n", "--", name}, args...)
	return exec.CommandContext(ctx, "nsenter", full...)
}

func (ns *netns) run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := ns.command(context.Background(), name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// dropUDP drops percent of the UDP datagrams to and from port on loopback,
// on the input hook: as if lost on the wire (a drop on the output hook
// would fail the sender's write with EPERM instead).
func (ns *netns) dropUDP(t *testing.T, port, percent int) {
	t.Helper()
	rules := fmt.Sprintf(`table inet e2eloss {
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport %[1]d numgen random mod 100 < %[2]d counter drop
		udp sport %[1]d numgen random mod 100 < %[2]d counter drop
	}
}
`, port, percent)
	cmd := ns.command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
}

// server is a running udpserver process.
type server struct {
	cmd    *exec.Cmd
	stdout *bytes.Buffer
	stderr *bytes.Buffer
	done   chan error
}

// startServer starts udpserver on 127.0.0.1:port with args via mk (which
// wraps the command in a namespace or not) and waits until it is ready.
func startServer(t *testing.T, mk func(ctx context.Context, name string, args ...string) *exec.Cmd, bin string, port int, args ...string) *server {
	t.Helper()
	return runServer(t, mk, bin, append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", port)}, args...)...)
}

// runServer starts udpserver with args via mk, waits until it listens, and
// stops it (SIGINT, then SIGKILL after 10 s) when the test ends.
func runServer(t *testing.T, mk func(ctx context.Context, name string, args ...string) *exec.Cmd, bin string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := mk(ctx, bin, args...)
	s := &server{cmd: cmd, stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), done: make(chan error, 1)}
	cmd.Stdout = s.stdout
	cmd.Stderr = &syncWriter{w: s.stderr}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	waitListening(t, s)
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			cancel()
		}
		if t.Failed() {
			t.Logf("udpserver %v, stderr:\n%s", args, cmd.Stderr.(*syncWriter).String())
		}
	})
	return s
}

// waitListening waits until the server logged that its sockets are bound.
func waitListening(t *testing.T, s *server) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.cmd.Stderr.(*syncWriter).String(), "msg=listening") {
		select {
		case err := <-s.done:
			t.Fatalf("udpserver exited before listening: %v\n%s", err, s.cmd.Stderr.(*syncWriter).String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("udpserver did not start listening within 20 s:\n%s", s.cmd.Stderr.(*syncWriter).String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-s.done:
		s.done <- err // for runServer's cleanup, which would otherwise wait 10 s for it
		if err != nil {
			t.Fatalf("udpserver exited with %v; stderr:\n%s", err, s.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("udpserver did not stop within 20 s of SIGINT")
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// plain runs a command in this process's own namespace (loopback only).
func plain(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, args...)
}

// sendLines runs udpcli send with lines on stdin and returns stdout, stderr
// and the exit status.
func sendLines(t *testing.T, mk func(ctx context.Context, name string, args ...string) *exec.Cmd, cli string, lines []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := mk(ctx, cli, append([]string{"send"}, args...)...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// record is the part of udpserver's JSON line the tests look at.
type record struct {
	ID   string `json:"id"` // 16 hex digits (wire.IDString)
	Text string `json:"text"`
	Size int    `json:"size"`
	From string `json:"from"`
}

func parseRecords(t *testing.T, out string) []record {
	t.Helper()
	var recs []record
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("server wrote a line that is not JSON: %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func numbered(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("reading %03d", i+1)
	}
	return lines
}

// checkExactlyOnce asserts that the server printed each line exactly once.
func checkExactlyOnce(t *testing.T, recs []record, lines []string) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.Text]++
	}
	for _, l := range lines {
		if seen[l] != 1 {
			t.Errorf("line %q handled %d times, want exactly once", l, seen[l])
		}
	}
	if len(recs) != len(lines) {
		t.Errorf("server printed %d JSON lines, want %d", len(recs), len(lines))
	}
}

func TestSend200Lines(t *testing.T) {
	srvBin, cli := build(t)
	port := freePort(t)
	srv := startServer(t, plain, srvBin, port)
	lines := numbered(200)
	out, stderr, code := sendLines(t, plain, cli, lines, "--json", fmt.Sprintf("127.0.0.1:%d", port))
	if code != 0 {
		t.Fatalf("udpcli send exit %d, want 0\nstderr: %s", code, stderr)
	}
	if got := strings.Count(out, `"status":"acked"`); got != 200 {
		t.Errorf("%d acked results, want 200:\n%s", got, out)
	}
	srv.stop(t)
	checkExactlyOnce(t, parseRecords(t, srv.stdout.String()), lines)
}

func TestSend200LinesWith30PercentLoss(t *testing.T) {
	srvBin, cli := build(t)
	ns := newNetns(t)
	const port = 9797
	ns.dropUDP(t, port, 30)
	srv := startServer(t, ns.command, srvBin, port)
	lines := numbered(200)
	out, stderr, code := sendLines(t, ns.command, cli, lines, "--json", "--retries", "20", "--window", "8", fmt.Sprintf("127.0.0.1:%d", port))
	if code != 0 {
		t.Fatalf("udpcli send exit %d, want 0\nstderr: %s\nstdout: %s", code, stderr, out)
	}
	if got := strings.Count(out, `"status":"acked"`); got != 200 {
		t.Errorf("%d acked results, want 200", got)
	}
	srv.stop(t)
	checkExactlyOnce(t, parseRecords(t, srv.stdout.String()), lines)
}
