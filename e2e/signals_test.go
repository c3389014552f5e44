package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
)

// lineReader collects a pipe's lines and lets a test wait for one.
type lineReader struct {
	lines chan string
}

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{lines: make(chan string, 1024)}
	go func() {
		defer close(lr.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lr.lines <- sc.Text()
		}
	}()
	return lr
}

// wait returns the next line matching re, failing after within.
func (lr *lineReader) wait(t *testing.T, re *regexp.Regexp, within time.Duration) string {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-lr.lines:
			if !ok {
				t.Fatalf("output ended before a line matching %v", re)
			}
			if re.MatchString(l) {
				return l
			}
		case <-timer.C:
			t.Fatalf("no line matching %v within %v", re, within)
		}
	}
}

var replyLine = regexp.MustCompile(`^\d+ bytes from .*: seq=\d+ time=`)

// TestPingSIGQUIT: SIGQUIT makes a running ping print its status line on
// stderr, as iputils ping does, and the run goes on; no Go stack dump.
func TestPingSIGQUIT(t *testing.T) {
	srvBin, cli := build(t)
	port := freePort(t)
	startServer(t, plain, srvBin, port, "--quiet")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "ping", "-i", "0.05", fmt.Sprintf("127.0.0.1:%d", port))
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out, errs := newLineReader(stdout), newLineReader(stderr)
	for range 3 {
		out.wait(t, replyLine, 10*time.Second)
	}
	cmd.Process.Signal(syscall.SIGQUIT)
	status := errs.wait(t, regexp.MustCompile(`^\d+/\d+ packets, \d+% loss, min/avg/ewma/max = [0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+ ms$`), 10*time.Second)
	t.Logf("status line: %q", status)
	// The run goes on after it.
	for range 3 {
		out.wait(t, replyLine, 10*time.Second)
	}
	cmd.Process.Signal(os.Interrupt)
	out.wait(t, regexp.MustCompile(`packets transmitted, \d+ received`), 10*time.Second)
	var rest []string
	for l := range errs.lines {
		rest = append(rest, l)
	}
	err := cmd.Wait()
	if err != nil {
		t.Errorf("ping after SIGQUIT and Ctrl-C: %v (want exit 0); stderr %q", err, rest)
	}
	if s := strings.Join(rest, "\n"); strings.Contains(s, "goroutine") || strings.Contains(s, "SIGQUIT") {
		t.Errorf("stack dump on stderr:\n%s", s)
	}
}

// TestSIGQUITStopsOtherCommands: a command without a status line stops on
// SIGQUIT as on Ctrl-C, without a stack dump.
func TestSIGQUITStopsOtherCommands(t *testing.T) {
	srvBin, cli := build(t)
	port := freePort(t)
	startServer(t, plain, srvBin, port, "--quiet")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// send reads lines from a stdin that stays open.
	cmd := exec.CommandContext(ctx, cli, "send", fmt.Sprintf("127.0.0.1:%d", port))
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	stdout, _ := cmd.StdoutPipe()
	var stderr syncWriter
	stderr.w = new(bytes.Buffer)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := newLineReader(stdout)
	io.WriteString(stdin, "one\n")
	out.wait(t, regexp.MustCompile(`^1: acked`), 10*time.Second)
	cmd.Process.Signal(syscall.SIGQUIT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("send after SIGQUIT: %v, want exit status 1 (interrupted)", err)
	}
	if s := stderr.String(); strings.Contains(s, "goroutine") || !strings.Contains(s, "1 acknowledged") {
		t.Errorf("stderr:\n%s", s)
	}
}

// TestServerSIGHUP: SIGHUP stops udpserver like SIGTERM: it says goodbye,
// so that udpcli watch drops it at once, and exits 0.
func TestServerSIGHUP(t *testing.T) {
	srvBin, cli := build(t)
	lab := newLab(t, netlab.Config{Hosts: 2})
	events := startWatch(t, lab.Host(1), cli)
	s := labServer(t, lab.Host(0), srvBin, "--quiet", "--instance", "hup", "--announce-ttl", "60s")
	waitEvent(t, events, "up", "hup", 10*time.Second)
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGHUP)
	e := waitEvent(t, events, "down", "hup", 5*time.Second)
	t.Logf("down %v after SIGHUP (%s)", time.Since(start).Round(time.Millisecond), e.Reason)
	if e.Reason != "goodbye" {
		t.Errorf("down for %q, want goodbye", e.Reason)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("udpserver exit after SIGHUP: %v, want 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("udpserver still running 20 s after SIGHUP")
	}
}

// TestStdoutFull: every command whose stdout cannot be written (a full
// disk: /dev/full) exits 1 with the error, instead of succeeding silently.
func TestStdoutFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	srvBin, cli := build(t)
	port := freePort(t)
	startServer(t, plain, srvBin, port, "--quiet")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	type tc struct {
		mk   func(context.Context, string, ...string) *exec.Cmd
		bin  string
		args []string
	}
	cases := []tc{
		{plain, cli, []string{"help"}},
		{plain, cli, []string{"--version"}},
		{plain, cli, []string{"ping", "--help"}},
		{plain, cli, []string{"ifaces"}},
		{plain, cli, []string{"completion", "bash"}},
		{plain, cli, []string{"man", t.TempDir()}},
		{plain, cli, []string{"ping", "-c", "3", "-i", "0.05", addr}},
		{plain, cli, []string{"ping", "-i", "0.05", addr}}, // no -c: stops at the first failed write
		{plain, cli, []string{"send", addr, "hello"}},
		{plain, cli, []string{"bench", "-d", "0.2", addr}},
		{plain, srvBin, []string{"--help"}},
		{plain, srvBin, []string{"--version"}},
		{plain, srvBin, []string{"--man"}},
	}
	if os.Geteuid() == 0 {
		// Discovery and multicast only inside a namespace of their own.
		lab := newLab(t, netlab.Config{Hosts: 2})
		labServer(t, lab.Host(0), srvBin, "--quiet", "--instance", "full")
		h := lab.Host(1).Command
		cases = append(cases,
			tc{h, cli, []string{"discover", "-t", "5s", "-n", "1"}},
			tc{h, cli, []string{"watch"}},
			tc{h, cli, []string{"mcast", "send", "-c", "1", "239.1.2.3:5000", "hi"}},
		)
	} else {
		t.Log("not root: discover, watch and mcast not tried")
	}
	for _, c := range cases {
		t.Run(strings.Join(append([]string{strings.TrimPrefix(c.bin, bins.buildRoot+"/")}, c.args...), " "), func(t *testing.T) {
			full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer full.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := c.mk(ctx, c.bin, c.args...)
			cmd.Stdout = full
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err = cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("still running after 30 s; stderr:\n%s", stderr.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("exit %v, want status 1; stderr:\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "no space left on device") {
				t.Errorf("stderr does not say why:\n%s", stderr.String())
			}
		})
	}
}

// TestPingHostUnreachable: when ICMP host unreachable comes back, ping
// says "Destination Host Unreachable" for each probe, as ping(8) does,
// and goes on. The ICMP errors come from an nft reject rule on loopback,
// in a namespace of the test's own.
func TestPingHostUnreachable(t *testing.T) {
	_, cli := build(t)
	ns := newNetns(t)
	cmd := ns.command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(`table inet e2eunreach {
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport 9797 reject with icmp type host-unreachable
	}
}
`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := ns.command(ctx, cli, "ping", "-c", "3", "-i", "0.05", "-W", "1", "127.0.0.1:9797").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("exit %v, want 1", err)
	}
	if n := strings.Count(string(out), "Destination Host Unreachable"); n != 3 {
		t.Errorf("%d unreachable lines, want 3:\n%s", n, out)
	}
	if !strings.Contains(string(out), "3 packets transmitted, 0 received, +3 errors, 100% packet loss") {
		t.Errorf("summary:\n%s", out)
	}
}

// TestBenchSIGUSR1: SIGUSR1 makes a running bench print its counts so far
// on stderr, as dd does, and the run goes on to its end.
func TestBenchSIGUSR1(t *testing.T) {
	srvBin, cli := build(t)
	port := freePort(t)
	startServer(t, plain, srvBin, port, "--quiet", "--rate-limit", "0")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "bench", "-d", "6", fmt.Sprintf("127.0.0.1:%d", port))
	var stdout strings.Builder
	cmd.Stdout = &stdout
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errs := newLineReader(stderr)
	// bench installs its handler in its first milliseconds; a SIGUSR1 before
	// that would end it. 1.5 s leaves room for a loaded machine (500 ms
	// did not, at load 20 on 2 CPUs).
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGUSR1)
	errs.wait(t, regexp.MustCompile(`^\d+ sent, \d+ replies, \d+ lost, \d+ nacks in [0-9.]+ s: \d+ replies/s so far$`), 10*time.Second)
	for range errs.lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bench: %v", err)
	}
	if !strings.Contains(stdout.String(), "replies/s") {
		t.Errorf("no final result after SIGUSR1:\n%s", stdout.String())
	}
}
