package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

// writeKey writes a new key file (current key id) and returns its path
// and keyring.
func writeKey(t *testing.T, name string, id uint16) (string, *auth.Keyring) {
	t.Helper()
	k, err := auth.GenerateKey(id, auth.RoleCurrent)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := auth.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := auth.WriteFile(path, kr, false); err != nil {
		t.Fatal(err)
	}
	return path, kr
}

// TestAuthEndToEnd is issue 14's check of the acknowledgement path, with
// the real udpserver --key-file in a namespace with 10 % loss both ways
// (so that clients retransmit, each copy sealed again):
//   - with the key on both ends, udpcli send, udpcli ping and the C and
//     Python device examples are acknowledged, each message handled once;
//   - without the key or with a wrong one (same key ID, other secret)
//     nothing is acknowledged and nothing handled;
//   - a captured authenticated DATA replayed from another port 5 s later
//     is not handled again (150 s later: udpserver's TestAuthReplayLater,
//     with a clock).
func TestAuthEndToEnd(t *testing.T) {
	srvBin, cli := build(t)
	devices := deviceExamples(t)
	good, keys := writeKey(t, "lan.key", 1)
	wrong, _ := writeKey(t, "wrong.key", 1)

	ns := newNetns(t)
	const port = 9797
	srv := startServer(t, ns.command, srvBin, port, "--key-file", good, "--no-announce")
	ns.dropUDP(t, port, 10) // 6 transmissions of a device: ~5e-5 lost exchanges
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	var want []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		t.Errorf(format, args...)
	}
	// Refused: every client without the key or with the wrong one, in
	// parallel (each gives up after its six transmissions).
	for _, d := range devices {
		for _, mode := range []string{"none", "wrong"} {
			wg.Go(func() {
				args := append([]string{}, d.argv[1:]...)
				if mode == "wrong" {
					args = append(args, "--key-file", wrong)
				}
				args = append(args, "127.0.0.1", fmt.Sprint(port), "forged by "+d.name+" "+mode)
				out, err := ns.command(t.Context(), d.argv[0], args...).CombinedOutput()
				if err == nil || strings.HasPrefix(string(out), "acked") {
					fail("%s example with key %s: %v\n%s", d.name, mode, err, out)
				}
			})
		}
	}
	for _, mode := range []string{"none", "wrong"} {
		wg.Go(func() {
			args := []string{"--retries", "3", "--timeout", "0.1", addr, "forged by udpcli " + mode}
			if mode == "wrong" {
				args = append([]string{"--key-file", wrong}, args...)
			}
			out, errOut, code := sendLines(t, ns.command, cli, nil, args...)
			if code != 1 || strings.Contains(out, "acked") {
				fail("udpcli send with key %s: status %d\n%s%s", mode, code, out, errOut)
			}
			ping := []string{"ping", "-c", "3", "-i", "0.05", "-W", "0.5", addr}
			if mode == "wrong" {
				ping = append(ping, "--key-file", wrong)
			}
			pout, err := ns.command(t.Context(), cli, ping...).CombinedOutput()
			if err == nil || !strings.Contains(string(pout), " 0 received") {
				fail("udpcli ping with key %s: %v\n%s", mode, err, pout)
			}
		})
	}
	// The replay, against a second server with the key on a port without
	// loss (so that the captured copy is the one the server accepted): a
	// DATA sealed here, sent from one port and acknowledged, then the same
	// bytes from another port 5 s later.
	const replayPort = 9801
	srv2 := startServer(t, ns.command, srvBin, replayPort, "--key-file", good, "--no-announce")
	py, pyErr := exec.LookPath("python3") // the replaying client runs in the namespace
	if pyErr != nil {
		t.Log("no python3: the replay part is not run")
	}
	wg.Go(func() {
		if pyErr != nil {
			return
		}
		signer, err := auth.NewSender(keys, auth.SenderConfig{})
		if err != nil {
			fail("%v", err)
			return
		}
		captured, err := signer.Sign(wire.AppendData(nil, 77, []byte("replayed once")))
		if err != nil {
			fail("%v", err)
			return
		}
		script := fmt.Sprintf(`import socket,time
cap=bytes.fromhex(%q)
a=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); a.settimeout(5)
a.connect(("127.0.0.1",%d))
a.send(cap)
r=a.recv(2048); print("acked" if r[3]==2 else "other")
time.sleep(5)
b=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); b.settimeout(2)
b.connect(("127.0.0.1",%d))
for i in range(3): b.send(cap)
try: b.recv(2048); print("replay answered")
except socket.timeout: print("replay ignored")
`, fmt.Sprintf("%x", captured), replayPort, replayPort)
		out, err := ns.command(t.Context(), py, "-c", script).CombinedOutput()
		if err != nil || string(out) != "acked\nreplay ignored\n" {
			fail("replay script: %v\n%s", err, out)
		}
	})
	// Accepted: the same clients with the key.
	for _, d := range devices {
		for i := range 3 {
			msg := fmt.Sprintf("%s authenticated reading %d", d.name, i)
			want = append(want, msg)
			args := append(append([]string{}, d.argv[1:]...), "--key-file", good, "127.0.0.1", fmt.Sprint(port), msg)
			out, err := ns.command(t.Context(), d.argv[0], args...).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "acked") {
				t.Errorf("%s example with the key: %v\n%s", d.name, err, out)
			}
		}
	}
	lines := numbered(20)
	want = append(want, lines...)
	out, errOut, code := sendLines(t, ns.command, cli, lines, "--key-file", good, addr)
	if code != 0 {
		t.Errorf("udpcli send with the key: status %d\n%s%s", code, out, errOut)
	}
	pout, err := ns.command(t.Context(), cli, "ping", "-c", "5", "-i", "0.05", "--key-file", good, addr).CombinedOutput()
	if !strings.Contains(string(pout), "bytes from") {
		t.Errorf("udpcli ping with the key: %v\n%s", err, pout)
	}
	wg.Wait()
	srv.stop(t)
	checkExactlyOnce(t, parseRecords(t, srv.stdout.String()), want)
	srv2.stop(t)
	if pyErr == nil {
		checkExactlyOnce(t, parseRecords(t, srv2.stdout.String()), []string{"replayed once"})
	}
	if pyErr == nil && !strings.Contains(srv2.stderr.String(), "replayed=3") {
		t.Errorf("the second server did not count 3 replays:\n%s", srv2.stderr)
	}
	if t.Failed() {
		t.Logf("server stderr:\n%s", srv.stderr)
	}
}
