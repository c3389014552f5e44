package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDeviceExamplesAgainstServer runs the C and Python clients of
// examples/, written from PROTOCOL.md alone, against the real udpserver, with
// 15% of the datagrams lost both ways so that they retransmit, and checks
// that the server handled each message exactly once. (The examples make six
// transmissions, so at 15% loss a message fails with probability
// 0.2775^6 = 0.05%.)
func TestDeviceExamplesAgainstServer(t *testing.T) {
	srvBin, _ := build(t)
	devices := deviceExamples(t)
	ns := newNetns(t)
	const port = 9797
	ns.dropUDP(t, port, 15)
	srv := startServer(t, ns.command, srvBin, port)
	var want []string
	for _, d := range devices {
		for i := 0; i < 5; i++ {
			msg := fmt.Sprintf("%s device reading %d", d.name, i)
			want = append(want, msg)
			args := append(d.argv[1:], "127.0.0.1", fmt.Sprint(port), msg)
			out, err := ns.command(t.Context(), d.argv[0], args...).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "acked") {
				t.Fatalf("%s example: %v\n%s", d.name, err, out)
			}
		}
	}
	srv.stop(t)
	checkExactlyOnce(t, parseRecords(t, srv.stdout.String()), want)
}

// device is one of the example clients of examples/, built.
type device struct {
	name string
	argv []string
}

// deviceExamples builds the C example and finds python3, or skips.
func deviceExamples(t *testing.T) []device {
	t.Helper()
	var devices []device
	if cc, err := exec.LookPath("cc"); err == nil {
		bin := filepath.Join(t.TempDir(), "udpkit_send")
		if out, err := exec.Command(cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-o", bin, "../examples/c/udpkit_send.c", "../examples/c/hmac_sha256.c").CombinedOutput(); err != nil {
			t.Fatalf("cc: %v\n%s", err, out)
		}
		devices = append(devices, device{"c", []string{bin}})
	} else {
		t.Log("no C compiler: the C example is not run")
	}
	if py, err := exec.LookPath("python3"); err == nil {
		devices = append(devices, device{"python", []string{py, "../examples/python/udpkit_send.py"}})
	} else {
		t.Log("no python3: the Python example is not run")
	}
	if len(devices) == 0 {
		t.Skip("skipping: neither cc nor python3 is installed")
	}
	return devices
}

// TestDemo runs the README's first command, the namespace LAN demo, and
// checks that it ends with every server found and acknowledged.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the demo in -short mode")
	}
	newNetns(t) // the same privileges as the demo needs, or skip
	cmd := exec.Command("go", "run", "./demo")
	cmd.Dir = ".."
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the demo did not finish within 3 minutes:\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "4 of 4 servers found, 4 acknowledged; segment B saw 1 server(s).") {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	t.Logf("demo output:\n%s", out)
}
