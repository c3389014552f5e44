package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// run runs a command with a timeout and returns its combined output and
// exit status.
func run(t *testing.T, timeout time.Duration, stdin string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %v; output:\n%s", name, args, timeout, out)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), 0
}

func TestSeedPythonClientGetsReply(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("skipping: python3 not installed")
	}
	srvBin, _ := build(t)
	port := freePort(t)
	srv := startServer(t, plain, srvBin, port)
	out, code := run(t, 10*time.Second, "", "python3", "testdata/seed_udp_client.py", "127.0.0.1", fmt.Sprint(port))
	if code != 0 || !strings.Contains(out, "Received response from server: ack") {
		t.Fatalf("seed client: exit %d, output:\n%s", code, out)
	}
	srv.stop(t)
	recs := parseRecords(t, srv.stdout.String())
	if len(recs) != 1 || recs[0].Text != "Hello, UDP Server!" {
		t.Fatalf("server printed %+v, want the seed's message once", recs)
	}
}

func TestNetcatGetsReply(t *testing.T) {
	if _, err := exec.LookPath("nc"); err != nil {
		t.Skip("skipping: nc not installed (apt-get install netcat-openbsd)")
	}
	srvBin, _ := build(t)
	port := freePort(t)
	startServer(t, plain, srvBin, port)
	// -q1: quit a second after stdin ends; -w2: idle timeout. The reply
	// arrives long before either.
	out, _ := run(t, 10*time.Second, "hello from nc\n", "nc", "-u", "-w1", "127.0.0.1", fmt.Sprint(port))
	if !strings.HasPrefix(out, "ack") {
		t.Fatalf("nc -u printed %q, want the server's plain-text ack", out)
	}
}

func TestSendRefusedFailsFast(t *testing.T) {
	_, cli := build(t)
	port := freePort(t) // nothing listens there
	start := time.Now()
	out, code := run(t, 10*time.Second, "", cli, "send", fmt.Sprintf("127.0.0.1:%d", port), "anyone there?")
	elapsed := time.Since(start)
	if code != 1 || !strings.Contains(strings.ToLower(out), "refused") {
		t.Fatalf("exit %d, output %q; want exit 1 and a refused error", code, out)
	}
	// Generous bound: the process start dominates; without fail-fast it
	// would take the full retransmission span (seconds).
	if elapsed > 3*time.Second {
		t.Errorf("refused took %v; want a fast failure", elapsed)
	}
}

func TestSendSilentServerTimesOut(t *testing.T) {
	_, cli := build(t)
	// A socket that reads nothing and answers nothing.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	addr := pc.LocalAddr().String()
	out, code := run(t, 20*time.Second, "", cli, "send", "--retries", "3", "--timeout", "50ms", addr, "hello?")
	if code != 1 || !strings.Contains(out, "4 attempts") {
		t.Fatalf("exit %d, output %q; want exit 1 and 'timed out after 4 attempts'", code, out)
	}
}

func TestPingFiveReplies(t *testing.T) {
	srvBin, cli := build(t)
	port := freePort(t)
	startServer(t, plain, srvBin, port)
	out, code := run(t, 20*time.Second, "", cli, "ping", "-c", "5", "-i", "0.05", fmt.Sprintf("127.0.0.1:%d", port))
	if code != 0 {
		t.Fatalf("ping exit %d:\n%s", code, out)
	}
	if n := strings.Count(out, " bytes from "); n != 5 {
		t.Errorf("%d reply lines, want 5:\n%s", n, out)
	}
	for _, want := range []string{"ping statistics ---", "5 packets transmitted, 5 received, 0% packet loss", "rtt min/avg/max/mdev = "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestGarbageNeverAmplified throws random, truncated and corrupted datagrams
// at a real server and checks that it stays up and never answers with more
// bytes than it got.
func TestGarbageNeverAmplified(t *testing.T) {
	srvBin, cli := build(t)
	port := freePort(t)
	startServer(t, plain, srvBin, port, "--quiet")
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	valid := wire.AppendData(nil, 42, []byte("a valid message to corrupt"))
	buf := make([]byte, 70000)
	for i := 0; i < 1000; i++ {
		var d []byte
		switch i % 4 {
		case 0: // random bytes, random length
			d = make([]byte, rng.IntN(200))
			for j := range d {
				d[j] = byte(rng.Uint32())
			}
		case 1: // a valid message cut short
			d = valid[:rng.IntN(len(valid))]
		case 2: // a valid message with one byte flipped
			d = append([]byte(nil), valid...)
			d[rng.IntN(len(d))] ^= byte(1 + rng.IntN(255))
		case 3: // the magic, then junk
			d = append([]byte{wire.Magic0, wire.Magic1}, make([]byte, rng.IntN(40))...)
			for j := 2; j < len(d); j++ {
				d[j] = byte(rng.Uint32())
			}
		}
		if _, err := conn.Write(d); err != nil {
			continue // an ICMP error from an earlier datagram; carry on
		}
		// A PING after each datagram marks the end of its replies: the
		// server answers in order, so whatever comes before our PONG
		// answers the garbage.
		marker := uint64(1_000_000 + i)
		if _, err := conn.Write(wire.Append(nil, wire.Header{Type: wire.TypePing, ID: marker}, nil)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("no PONG after datagram %d (%x): %v; is the server stuck?", i, d, err)
			}
			if h, _, err := wire.Parse(buf[:n]); err == nil && h.Type == wire.TypePong && h.ID == marker {
				break
			}
			if n > len(d) {
				t.Fatalf("datagram of %d bytes (%x) got a reply of %d bytes", len(d), d, n)
			}
		}
	}
	// The server is still alive and correct.
	out, code := run(t, 10*time.Second, "", cli, "send", fmt.Sprintf("127.0.0.1:%d", port), "still there?")
	if code != 0 {
		t.Fatalf("after the garbage, send failed with exit %d: %s", code, out)
	}
}
