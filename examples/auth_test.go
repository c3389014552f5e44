package examples_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

const testKeyFile = "../testdata/auth/test.key"

// keyFile copies text into a 0600 file and returns its path.
func keyFile(t *testing.T, text []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "udpkit.key")
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func testKeys(t *testing.T) ([]byte, *auth.Keyring) {
	t.Helper()
	text, err := os.ReadFile(testKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := auth.ParseKeyFile(text)
	if err != nil {
		t.Fatal(err)
	}
	return text, kr
}

// checkSealedCopies checks the copies of one authenticated message: the same
// message each time (header and body), sealed again each time by one sender
// with counters 1, 2, 3, ...
func checkSealedCopies(t *testing.T, kr *auth.Keyring, copies [][]byte) {
	t.Helper()
	var sender uint64
	for i, b := range copies {
		h, body, f, err := kr.Open(b)
		if err != nil {
			t.Fatalf("copy %d: %v", i+1, err)
		}
		h0, body0, _, _ := kr.Open(copies[0])
		if h != h0 || !bytes.Equal(body, body0) {
			t.Errorf("copy %d is another message: %+v %q, first %+v %q", i+1, h, body, h0, body0)
		}
		if i == 0 {
			sender = f.Sender
		}
		if f.Sender != sender || f.Sender == 0 || f.Counter != uint64(i+1) {
			t.Errorf("copy %d: sender %#x counter %d; want sender %#x counter %d", i+1, f.Sender, f.Counter, sender, i+1)
		}
		if i > 0 && bytes.Equal(b, copies[0]) {
			t.Errorf("copy %d is the identical datagram; a retransmission must be sealed again", i+1)
		}
	}
}

// TestAuthExamples runs the C and Python clients in their authenticated mode
// against a server that verifies with package auth.
func TestAuthExamples(t *testing.T) {
	text, kr := testKeys(t)
	for _, c := range clients(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // the slow cases of both clients at once
			path := keyFile(t, text)
			t.Run("acked", func(t *testing.T) {
				t.Parallel()
				s := startAuthServer(t, 0, wire.CodeNone, kr, false)
				out, code := c.runArgs(t, nil, "--key-file", path, "127.0.0.1", s.port(), "hello")
				n := acked(out)
				if code != 0 || n == 0 {
					t.Fatalf("exit %d, output %q; want 0, \"acked (1 attempt)\"", code, out)
				}
				copies, handled := s.snapshot(t)
				if len(copies) != n || handled != 1 {
					t.Errorf("server got %d copies, handled %d; want %d, 1", len(copies), handled, n)
				}
				checkSealedCopies(t, kr, copies)
				h, body, _, _ := kr.Open(copies[0])
				if h.Type != wire.TypeData || h.KeyID != 7 || string(body) != "hello" {
					t.Errorf("server got %+v %q", h, body)
				}
				if len(s.refused) != 0 {
					t.Errorf("server refused %v", s.refused)
				}
			})
			t.Run("key from the environment", func(t *testing.T) {
				t.Parallel()
				s := startAuthServer(t, 0, wire.CodeNone, kr, false)
				out, code := c.runArgs(t, []string{"UDPKIT_KEY_FILE=" + path}, "127.0.0.1", s.port(), "hello")
				if code != 0 || acked(out) == 0 {
					t.Fatalf("exit %d, output %q", code, out)
				}
			})
			t.Run("retransmits sealed again", func(t *testing.T) {
				t.Parallel()
				s := startAuthServer(t, 2, wire.CodeNone, kr, false)
				out, code := c.runArgs(t, nil, "--key-file", path, "127.0.0.1", s.port(), "reading=42")
				n := acked(out)
				if code != 0 || n < 3 {
					t.Fatalf("exit %d, output %q; want 0, \"acked (3 attempts)\"", code, out)
				}
				copies, handled := s.snapshot(t)
				if len(copies) != n || handled != 1 {
					t.Errorf("server got %d copies, handled %d; want %d, 1", len(copies), handled, n)
				}
				checkSealedCopies(t, kr, copies)
				if len(s.refused) != 0 {
					t.Errorf("server refused %v (a retransmission is not a replay)", s.refused)
				}
			})
			t.Run("ignores forged replies", func(t *testing.T) {
				t.Parallel()
				// Before its authentic NACK, the server sends an unauthenticated
				// ACK, one with a bad tag, one for another message, a stale one,
				// one from the future and one under an unknown key. A client
				// that took any of them would print "acked".
				s := startAuthServer(t, 0, wire.CodeRejected, kr, true)
				out, code := c.runArgs(t, nil, "--key-file", path, "127.0.0.1", s.port(), "hello")
				want := "rejected: rejected (code 1): unkno" // cut to fit the 61-byte request
				if code != 1 || strings.TrimSpace(out) != want {
					t.Errorf("exit %d, output %q; want 1, %q", code, out, want)
				}
			})
			// A server with the key refuses a client with another secret, and
			// one without a key, whatever they retransmit: it handles nothing.
			t.Run("wrong secret", func(t *testing.T) {
				t.Parallel()
				s := startAuthServer(t, 0, wire.CodeNone, kr, false)
				wrong := keyFile(t, []byte("current 7 "+strings.Repeat("5a", 32)+"\n"))
				c.runUntil(t, func() bool { return s.refusedCount(auth.ErrBadTag) >= 2 }, "--key-file", wrong, "127.0.0.1", s.port(), "hello")
				if n := s.handledCount(); n != 0 {
					t.Errorf("server handled %d messages; want 0", n)
				}
			})
			t.Run("no key", func(t *testing.T) {
				t.Parallel()
				s := startAuthServer(t, 0, wire.CodeNone, kr, false)
				c.runUntil(t, func() bool { return s.refusedCount(wire.ErrNotAuth) >= 2 }, "127.0.0.1", s.port(), "hello")
				if n := s.handledCount(); n != 0 {
					t.Errorf("server handled %d messages; want 0", n)
				}
			})
			t.Run("bad key files", func(t *testing.T) {
				t.Parallel()
				for _, bad := range []string{
					"", "previous 1 " + strings.Repeat("11", 32), "current 1 abcd", "current 70000 " + strings.Repeat("11", 32),
					"current 1 " + strings.Repeat("11", 32) + "\ncurrent 2 " + strings.Repeat("22", 32), "boss 1 " + strings.Repeat("11", 32),
				} {
					out, code := c.runArgs(t, nil, "--key-file", keyFile(t, []byte(bad)), "127.0.0.1", "9", "hello")
					if code != 2 || out != "" {
						t.Errorf("key file %q: exit %d, output %q; want 2 and a message on stderr", bad, code, out)
					}
				}
			})
		})
	}
}

func (s *fakeServer) refusedCount(err error) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused[err]
}

func (s *fakeServer) handledCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.copies)
}

// runUntil runs c with args until cond holds (checked every 20 ms), then
// stops it; it fails the test if cond does not hold within 20 s or the
// client exits first.
func (c client) runUntil(t *testing.T, cond func() bool, args ...string) {
	t.Helper()
	argv := append(append([]string(nil), c.argv...), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "UDPKIT_KEY_FILE=")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case err := <-exited:
			t.Fatalf("%s exited before the server saw what it should (%v): %q", c.name, err, stdout.String())
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("%s: condition not met within 20 s", c.name)
		case <-tick.C:
		}
	}
	cmd.Process.Kill()
	<-exited
}

// TestAuthVectors checks the clients' sealing against the golden vectors:
// the datagram each would send for the vector's message ID, sender,
// counter and time is the vector, byte for byte.
func TestAuthVectors(t *testing.T) {
	text, _ := testKeys(t)
	vectors, err := os.ReadFile("../testdata/auth/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	type vec struct{ name, arg, message, auth string }
	var vs []vec
	sc := bufio.NewScanner(bytes.NewReader(vectors))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ": ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		f := map[string]string{}
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		// The clients send DATA under the current key (7).
		if f["key"] != "7" || !strings.HasPrefix(f["plain"], "fa4b0101") {
			continue
		}
		plain, err := hex.DecodeString(f["plain"])
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, vec{name, strings.TrimPrefix(f["sender"], "0x") + ":" + f["counter"] + ":" + f["time"],
			string(plain[16:]), f["auth"]})
		vs[len(vs)-1].arg = hexID(plain) + ":" + vs[len(vs)-1].arg
	}
	if len(vs) < 2 {
		t.Fatalf("found %d DATA vectors", len(vs))
	}
	for _, c := range clients(t) {
		t.Run(c.name, func(t *testing.T) {
			path := keyFile(t, text)
			for _, v := range vs {
				out, code := c.runArgs(t, nil, "--key-file", path, "--vector", v.arg, v.message)
				if code != 0 || strings.TrimSpace(out) != v.auth {
					t.Errorf("%s: exit %d\n got %s\nwant %s", v.name, code, strings.TrimSpace(out), v.auth)
				}
			}
		})
	}
}

// hexID is the message ID of a datagram as the --vector argument takes it.
func hexID(plain []byte) string { return hex.EncodeToString(plain[8:16]) }

// TestCHMAC runs the C SHA-256/HMAC tests (FIPS 180-2 and RFC 4231 vectors).
func TestCHMAC(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler (cc) in PATH")
	}
	bin := filepath.Join(t.TempDir(), "hmac_test")
	if out, err := exec.Command(cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-o", bin,
		filepath.Join("c", "hmac_sha256_test.c"), filepath.Join("c", "hmac_sha256.c")).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("%v\n%s", err, out)
	}
}
