package examples_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

// fakeServer is a minimal udpkit server built on package wire: it acks (or
// nacks) DATA, runs its "handler" once per message ID and answers
// retransmissions of a handled message with the same reply. It can drop the
// first copies of every message to force retransmissions.
type fakeServer struct {
	pc   net.PacketConn
	drop int       // drop the first drop copies of each message ID
	nack wire.Code // answer with this code instead of an ack when non-zero

	// With keys (startAuthServer): verify with recv, sign replies with
	// send, and with forge send forged replies before the real one.
	recv  *auth.Receiver
	send  *auth.Sender
	forge bool

	mu      sync.Mutex
	refused map[error]int       // datagrams recv refused, by error
	copies  map[uint64][][]byte // every copy received, per message ID
	handled map[uint64]int      // handler runs per message ID
}

func startServer(t *testing.T, drop int, nack wire.Code) *fakeServer {
	t.Helper()
	return startAuthServer(t, drop, nack, nil, false)
}

// startAuthServer starts a server that verifies with keys (package auth)
// and refuses every datagram that does not pass (nil keys: a plain server).
func startAuthServer(t *testing.T, drop int, nack wire.Code, keys *auth.Keyring, forge bool) *fakeServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{pc: pc, drop: drop, nack: nack, copies: map[uint64][][]byte{}, handled: map[uint64]int{}, refused: map[error]int{}}
	if keys != nil {
		s.recv = auth.NewReceiver(keys, auth.ReplayConfig{NotBefore: time.Now().Add(-time.Second)})
		var err error
		if s.send, err = auth.NewSender(keys, auth.SenderConfig{}); err != nil {
			t.Fatal(err)
		}
		s.forge = forge
	}
	done := make(chan struct{})
	go s.serve(done)
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return s
}

func (s *fakeServer) serve(done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, 65536)
	out := make([]byte, 0, wire.DefaultMaxDatagram)
	for {
		n, addr, err := s.pc.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		var h wire.Header
		if s.recv != nil {
			m, err := s.recv.Verify(buf[:n])
			if err != nil {
				s.mu.Lock()
				s.refused[errorsRoot(err)]++
				s.mu.Unlock()
				continue // drop and count, never answer
			}
			h = m.Header
		} else if h, _, err = wire.Parse(buf[:n]); err != nil {
			continue // malformed: drop, never answer
		}
		if h.Type != wire.TypeData {
			continue // not for us
		}
		s.mu.Lock()
		s.copies[h.ID] = append(s.copies[h.ID], bytes.Clone(buf[:n]))
		drop := len(s.copies[h.ID]) <= s.drop
		if !drop {
			if s.handled[h.ID] == 0 {
				s.handled[h.ID]++ // the handler runs once; duplicates get the same reply
			}
		}
		s.mu.Unlock()
		if drop {
			continue
		}
		limit := n // a reply is never longer than its request
		if s.recv != nil {
			limit -= wire.AuthTrailerLen
			if s.forge {
				s.sendForgeries(h, addr)
			}
		}
		if s.nack != wire.CodeNone {
			out = wire.AppendNack(out[:0], h.ID, s.nack, "unknown sensor", limit)
		} else {
			out = wire.AppendAck(out[:0], h.ID)
		}
		if s.send != nil {
			if out, err = s.send.SignWith(out, h.KeyID); err != nil {
				panic(err)
			}
		}
		s.pc.WriteTo(out, addr)
	}
}

// sendForgeries sends the ACKs an attacker (or a confused peer) could send
// before the real reply to h; a client with keys must ignore every one.
func (s *fakeServer) sendForgeries(h wire.Header, addr net.Addr) {
	ack := func() []byte { return wire.AppendAck(nil, h.ID) }
	stale, _ := auth.NewSender(s.send.Keys(), auth.SenderConfig{Now: func() time.Time { return time.Now().Add(-time.Minute) }})
	ahead, _ := auth.NewSender(s.send.Keys(), auth.SenderConfig{Now: func() time.Time { return time.Now().Add(time.Minute) }})
	otherKeys, _ := auth.ParseKeyFile([]byte("current 9 " + strings.Repeat("ab", 32)))
	other, _ := auth.NewSender(otherKeys, auth.SenderConfig{})
	badTag, _ := s.send.SignWith(ack(), h.KeyID)
	badTag[len(badTag)-1] ^= 1
	otherID, _ := s.send.SignWith(wire.AppendAck(nil, h.ID+1), h.KeyID)
	staleAck, _ := stale.SignWith(ack(), h.KeyID)
	aheadAck, _ := ahead.SignWith(ack(), h.KeyID)
	unknownKey, _ := other.Sign(ack())
	for _, b := range [][]byte{ack(), badTag, otherID, staleAck, aheadAck, unknownKey} {
		s.pc.WriteTo(b, addr)
	}
}

// errorsRoot maps an error of auth.Receiver.Verify to its sentinel.
func errorsRoot(err error) error {
	for _, e := range []error{auth.ErrBadTag, auth.ErrUnknownKey, auth.ErrClock, auth.ErrReplay, auth.ErrTooOld, wire.ErrNotAuth} {
		if errors.Is(err, e) {
			return e
		}
	}
	return err
}

func (s *fakeServer) port() string {
	return strings.TrimPrefix(s.pc.LocalAddr().String(), "127.0.0.1:")
}

// snapshot returns the copies received of the only message seen and the
// number of handler runs; it fails the test if more than one ID was seen.
func (s *fakeServer) snapshot(t *testing.T) (copies [][]byte, handled int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.copies) != 1 {
		t.Fatalf("server saw %d message IDs, want 1", len(s.copies))
	}
	for id, c := range s.copies {
		return c, s.handled[id]
	}
	return nil, 0
}

// client is one way to run an example: argv before HOST PORT MESSAGE.
type client struct {
	name string
	argv []string
}

// clients builds the C example and finds python3, skipping what this
// machine lacks.
func clients(t *testing.T) []client {
	t.Helper()
	var cs []client
	if cc, err := exec.LookPath("cc"); err != nil {
		t.Log("no C compiler (cc) in PATH: skipping the C example")
	} else {
		bin := filepath.Join(t.TempDir(), "udpkit_send")
		out, err := exec.Command(cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
			"-o", bin, filepath.Join("c", "udpkit_send.c"), filepath.Join("c", "hmac_sha256.c")).CombinedOutput()
		if err != nil {
			t.Fatalf("cc: %v\n%s", err, out)
		}
		cs = append(cs, client{"c", []string{bin}})
	}
	if py, err := exec.LookPath("python3"); err != nil {
		t.Log("no python3 in PATH: skipping the Python example")
	} else {
		cs = append(cs, client{"python", []string{py, filepath.Join("python", "udpkit_send.py")}})
	}
	if len(cs) == 0 {
		t.Skip("neither cc nor python3 available")
	}
	return cs
}

// run runs c with HOST PORT MESSAGE and returns its stdout and exit status.
func (c client) run(t *testing.T, port, message string) (string, int) {
	t.Helper()
	return c.runArgs(t, nil, "127.0.0.1", port, message)
}

// runArgs runs c with args and the extra environment variables env.
func (c client) runArgs(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append(append([]string(nil), c.argv...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "UDPKIT_KEY_FILE=")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), 0
	case errors.As(err, &ee) && ee.Exited():
		if stderr.Len() > 0 {
			t.Logf("%s stderr: %s", c.name, stderr.String())
		}
		return stdout.String(), ee.ExitCode()
	default:
		t.Fatalf("%s: %v (stderr: %s)", c.name, err, stderr.String())
		return "", -1
	}
}

// deadPort returns a UDP port on 127.0.0.1 that nothing listens on (it was
// just closed), so that a datagram to it draws ICMP port unreachable.
func deadPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(pc.LocalAddr().String(), "127.0.0.1:")
	pc.Close()
	return port
}

var ackedRE = regexp.MustCompile(`^acked \(([0-9]+) attempts?\)$`)

// acked returns the number of attempts of an "acked (N attempts)" line, or 0.
func acked(out string) int {
	m := ackedRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// checkCopies fails unless every copy is byte for byte the first one: a
// retransmission is the identical datagram, same message ID.
func checkCopies(t *testing.T, copies [][]byte) {
	t.Helper()
	for i, b := range copies[1:] {
		if !bytes.Equal(b, copies[0]) {
			t.Errorf("copy %d = %x, differs from the first %x", i+2, b, copies[0])
		}
	}
}

// The assertions allow extra retransmissions: on a loaded machine an ack can
// take longer than the 200 ms first timeout. What must hold is that the
// handler ran once and every copy was identical.
func TestExamples(t *testing.T) {
	for _, c := range clients(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Run("acked", func(t *testing.T) {
				t.Parallel()
				s := startServer(t, 0, wire.CodeNone)
				out, code := c.run(t, s.port(), "hello")
				n := acked(out)
				if code != 0 || n == 0 {
					t.Errorf("exit %d, output %q; want 0, \"acked (1 attempt)\"", code, out)
				}
				copies, handled := s.snapshot(t)
				if len(copies) != n || handled != 1 {
					t.Errorf("server got %d copies, handled %d; want %d, 1", len(copies), handled, n)
				}
				checkCopies(t, copies)
				h, body, err := wire.Parse(copies[0])
				if err != nil || h.Type != wire.TypeData || string(body) != "hello" {
					t.Errorf("server got %+v %q %v", h, body, err)
				}
			})
			t.Run("retransmits", func(t *testing.T) {
				t.Parallel()
				s := startServer(t, 2, wire.CodeNone)
				out, code := c.run(t, s.port(), "reading=42")
				n := acked(out)
				if code != 0 || n < 3 {
					t.Errorf("exit %d, output %q; want 0, \"acked (3 attempts)\"", code, out)
				}
				copies, handled := s.snapshot(t) // one message ID only
				if len(copies) != n || handled != 1 {
					t.Errorf("server got %d copies, handled %d; want %d, 1", len(copies), handled, n)
				}
				checkCopies(t, copies)
			})
			t.Run("rejected", func(t *testing.T) {
				t.Parallel()
				s := startServer(t, 0, wire.CodeRejected)
				out, code := c.run(t, s.port(), "hello")
				want := "rejected: rejected (code 1): unkno" // cut to fit the 21-byte request
				if code != 1 || strings.TrimSpace(out) != want {
					t.Errorf("exit %d, output %q; want 1, %q", code, out, want)
				}
			})
			t.Run("refused", func(t *testing.T) {
				t.Parallel()
				out, code := c.run(t, deadPort(t), "hello")
				if code != 1 || strings.TrimSpace(out) != "refused" {
					t.Errorf("exit %d, output %q; want 1, \"refused\"", code, out)
				}
			})
		})
	}
}
