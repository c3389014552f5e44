package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/cli"
)

// exitCode returns the exit status of a finished command.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestCLIListenSendStatus checks the exit statuses and summaries of listen
// and send, as ping's: listen -w exits 0 when something arrived and 1 when
// nothing did, and says how many arrived (also on Ctrl-C); send
// interrupted by Ctrl-C says how many left and exits 0; send --json gives
// the interface's address as the source.
func TestCLIListenSendStatus(t *testing.T) {
	lab, bin := mcastLab(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const group = "239.255.78.9:5020"

	// Nothing arrives before the deadline: exit 1, "0 datagrams".
	var eb bytes.Buffer
	cmd := lab.Host(0).Command(ctx, bin, "mcast", "listen", group, "-w", "0.3")
	cmd.Stderr = &eb
	if code := exitCode(cmd.Run()); code != cli.ExitFailed || !strings.Contains(eb.String(), "0 datagrams received") {
		t.Errorf("listen, nothing sent: exit %d, stderr %q", code, eb.String())
	}

	// Two arrive before the -w deadline (no -c): exit 0.
	listen := lab.Host(0).Command(ctx, bin, "mcast", "listen", group, "-w", "1.5")
	stderr, _ := listen.StderrPipe()
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stderr)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "joined ") {
		t.Fatalf("listen: %q %v", line, err)
	}
	var rest lockedBuffer
	copied := make(chan struct{})
	go func() { io.Copy(&rest, r); close(copied) }()
	var jb bytes.Buffer
	send := lab.Host(1).Command(ctx, bin, "mcast", "send", group, "-c", "2", "-i", "0.01", "-I", "eth0", "--json")
	send.Stdout = &jb
	if err := send.Run(); err != nil {
		t.Fatalf("send: %v", err)
	}
	<-copied // before Wait, which closes the pipe under a copy still reading
	code := exitCode(listen.Wait())
	if code != cli.ExitOK || !strings.Contains(rest.String(), "2 datagrams received") {
		t.Errorf("listen -w with 2 datagrams: exit %d, stderr %q", code, rest.String())
	}
	var ev sendJSON
	if err := json.Unmarshal(bytes.SplitN(jb.Bytes(), []byte("\n"), 2)[0], &ev); err != nil ||
		ev.From.Addr() != lab.Host(1).IPv4 || ev.From.Port() == 0 {
		t.Errorf("send --json: source %v (%v), want %v:port\n%s", ev.From, err, lab.Host(1).IPv4, jb.String())
	}

	// send -c 100 interrupted: exit 0 (as ping), the count on stderr.
	var so, se lockedBuffer
	long := lab.Host(1).Command(ctx, bin, "mcast", "send", group, "-c", "100", "-i", "0.02", "-I", "eth0")
	long.Stdout, long.Stderr = &so, &se
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	for strings.Count(so.String(), "\n") < 3 {
		select {
		case <-ctx.Done():
			t.Fatal("send printed nothing")
		case <-time.After(10 * time.Millisecond):
		}
	}
	long.Process.Signal(os.Interrupt)
	code = exitCode(long.Wait())
	if code != cli.ExitOK || !strings.Contains(se.String(), "interrupted: ") || !strings.Contains(se.String(), "of 100 datagrams sent") {
		t.Errorf("send interrupted: exit %d, stderr %q", code, se.String())
	}
}

// sendJSON decodes one --json line of mcast send.
type sendJSON struct {
	Seq       int            `json:"seq"`
	Group     netip.AddrPort `json:"group"`
	From      netip.AddrPort `json:"from"` // where it left from, as from in every record
	Interface string         `json:"interface"`
	TTL       int            `json:"ttl"`
	Size      int            `json:"size"`
	Error     string         `json:"error,omitempty"`
}
