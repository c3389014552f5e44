package examples_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

// scriptServer answers each datagram it receives on 127.0.0.1 with what
// its script returns for it (nil: nothing), and keeps every copy: the
// exchanges of these tests are played byte for byte.
type scriptServer struct {
	pc     net.PacketConn
	script func(i int, b []byte) [][]byte // i counts from 0

	mu     sync.Mutex
	copies [][]byte
	at     []time.Time // when each copy arrived
}

func startScript(t *testing.T, script func(i int, b []byte) [][]byte) *scriptServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptServer{pc: pc, script: script}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			b := bytes.Clone(buf[:n])
			s.mu.Lock()
			i := len(s.copies)
			s.copies = append(s.copies, b)
			s.at = append(s.at, time.Now())
			s.mu.Unlock()
			for _, out := range script(i, b) {
				pc.WriteTo(out, addr)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return s
}

func (s *scriptServer) port() string {
	return strings.TrimPrefix(s.pc.LocalAddr().String(), "127.0.0.1:")
}

func (s *scriptServer) received() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.copies...)
}

// gap returns how long after copy i-1 copy i arrived.
func (s *scriptServer) gap(i int) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at[i].Sub(s.at[i-1])
}

// distinct returns copies without those identical to the copy before
// them: retransmissions on the client's timer, which a loaded machine can
// draw before the scripted answer to the first copy arrives. The scripts
// answer by content, so such a copy changes nothing else.
func distinct(t *testing.T, copies [][]byte) [][]byte {
	t.Helper()
	var out [][]byte
	for i, b := range copies {
		if i > 0 && bytes.Equal(b, copies[i-1]) {
			t.Logf("copy %d repeats copy %d (a retransmission on the timer)", i+1, i)
			continue
		}
		out = append(out, b)
	}
	return out
}

// goldenVectors returns the datagrams of testdata/vectors.txt by name.
func goldenVectors(t *testing.T, names ...string) map[string][]byte {
	t.Helper()
	f, err := os.Open("../testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		hexText, _, _ := strings.Cut(rest, "=>")
		b, err := hex.DecodeString(strings.ReplaceAll(hexText, " ", ""))
		if err != nil {
			t.Fatalf("vector %s: %v", name, err)
		}
		all[name] = b
	}
	got := map[string][]byte{}
	for _, n := range names {
		if all[n] == nil {
			t.Fatalf("testdata/vectors.txt has no vector %s", n)
		}
		got[n] = all[n]
	}
	return got
}

// TestCookieExchangeVectors plays the cookie exchange of
// testdata/vectors.txt (PROTOCOL.md section 3.1) to each example: its
// first datagram must be cookie-xchg-data; answered with nack-cookie, its
// next one must be cookie-xchg-echo, byte for byte (the test server
// answers only that with ack: a client that does not echo times out).
func TestCookieExchangeVectors(t *testing.T) {
	v := goldenVectors(t, "cookie-xchg-data", "nack-cookie", "cookie-xchg-echo", "ack")
	id := hex.EncodeToString(v["cookie-xchg-data"][8:16])
	message := string(v["cookie-xchg-data"][16:])
	for _, c := range clients(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := startScript(t, func(i int, b []byte) [][]byte {
				switch {
				case bytes.Equal(b, v["cookie-xchg-echo"]):
					return [][]byte{v["ack"]}
				case bytes.Equal(b, v["cookie-xchg-data"]):
					return [][]byte{v["nack-cookie"]}
				}
				return nil
			})
			out, code := c.runArgs(t, nil, "--id", id, "127.0.0.1", s.port(), message)
			all := s.received()
			got := distinct(t, all)
			if code != 0 || acked(out) != len(all) {
				t.Errorf("exit %d, output %q; want 0, \"acked (%d attempts)\"", code, out, len(all))
			}
			if len(got) != 2 || !bytes.Equal(got[0], v["cookie-xchg-data"]) || !bytes.Equal(got[1], v["cookie-xchg-echo"]) {
				t.Fatalf("client sent %x; want cookie-xchg-data %x, then cookie-xchg-echo %x", got, v["cookie-xchg-data"], v["cookie-xchg-echo"])
			}
			// At once, not after the first timeout (200 ms or more): logged,
			// not asserted, as a loaded machine can delay the client too.
			t.Logf("echo %v after the data", s.gap(1))
		})
	}
}

// TestShortCookieVectors plays the short message's cookie exchange of
// testdata/vectors.txt (PROTOCOL.md section 3.1, "Short messages") to
// each example: short-data answered with nack-busy must be followed at
// once by short-placeholder, answered with nack-cookie by short-echo,
// byte for byte, and acked after 3 attempts.
func TestShortCookieVectors(t *testing.T) {
	v := goldenVectors(t, "short-data", "nack-busy", "short-placeholder", "nack-cookie", "short-echo", "ack")
	id := hex.EncodeToString(v["short-data"][8:16])
	message := string(v["short-data"][16:])
	for _, c := range clients(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := startScript(t, func(i int, b []byte) [][]byte {
				switch {
				case bytes.Equal(b, v["short-echo"]):
					return [][]byte{v["ack"]}
				case bytes.Equal(b, v["short-placeholder"]):
					return [][]byte{v["nack-cookie"]}
				case bytes.Equal(b, v["short-data"]):
					return [][]byte{v["nack-busy"]}
				}
				return nil
			})
			out, code := c.runArgs(t, nil, "--id", id, "127.0.0.1", s.port(), message)
			all := s.received()
			got := distinct(t, all)
			if code != 0 || acked(out) != len(all) {
				t.Errorf("exit %d, output %q; want 0, \"acked (%d attempts)\"", code, out, len(all))
			}
			want := [][]byte{v["short-data"], v["short-placeholder"], v["short-echo"]}
			if len(got) != len(want) {
				t.Fatalf("client sent %x; want %x", got, want)
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("datagram %d = %x, want %x", i+1, got[i], want[i])
				}
			}
			t.Logf("placeholder %v after the data, echo %v after it", s.gap(1), s.gap(2))
		})
	}
}

// TestCookieNewestEchoed: a client echoes the newest cookie; the same
// cookie again does not draw an immediate resend. The server answers the
// first DATA with cookie A, the echo of A with cookie B (as after an epoch
// change), the echo of B with B again, and only the next echo of B with
// an ACK: four copies, the last two identical (more when the client's
// timer fires first on a loaded machine: repeats of the copy before).
func TestCookieNewestEchoed(t *testing.T) {
	v := goldenVectors(t, "cookie-xchg-data")
	id := hex.EncodeToString(v["cookie-xchg-data"][8:16])
	message := string(v["cookie-xchg-data"][16:])
	var idv uint64
	for _, b := range v["cookie-xchg-data"][8:16] {
		idv = idv<<8 | uint64(b)
	}
	a, b := wire.Cookie{1, 2, 3, 4, 5, 6, 7, 8}, wire.Cookie{9, 10, 11, 12, 13, 14, 15, 16}
	echo := func(c wire.Cookie) []byte { return wire.AppendDataCookie(nil, idv, []byte(message), c) }
	for _, c := range clients(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			echoesOfB := 0 // the script's goroutine's only
			s := startScript(t, func(_ int, got []byte) [][]byte {
				switch {
				case bytes.Equal(got, v["cookie-xchg-data"]):
					return [][]byte{wire.AppendCookieNack(nil, idv, a)}
				case bytes.Equal(got, echo(a)):
					return [][]byte{wire.AppendCookieNack(nil, idv, b)}
				case bytes.Equal(got, echo(b)):
					if echoesOfB++; echoesOfB == 1 {
						return [][]byte{wire.AppendCookieNack(nil, idv, b)}
					}
					return [][]byte{wire.AppendAck(nil, idv)}
				}
				return nil
			})
			out, code := c.runArgs(t, nil, "--id", id, "127.0.0.1", s.port(), message)
			// Without retransmissions on the timer: the data, the echo of
			// A, the echo of B, and B again after B came a second time.
			all := s.received()
			if code != 0 || acked(out) != len(all) {
				t.Errorf("exit %d, output %q; want 0, \"acked (%d attempts)\"", code, out, len(all))
			}
			if len(all) < 4 || !bytes.Equal(all[len(all)-1], echo(b)) || !bytes.Equal(all[len(all)-2], echo(b)) {
				t.Errorf("client sent %x; want the echo of B twice at the end", all)
			}
			want := [][]byte{v["cookie-xchg-data"], echo(a), echo(b)}
			got := distinct(t, all)
			if len(got) != len(want) {
				t.Fatalf("client sent %d distinct datagrams %x; want %x", len(got), got, want)
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("datagram %d = %x, want %x", i+1, got[i], want[i])
				}
			}
		})
	}
}

// TestCookieIgnoredWithKey: cookies are never used with AUTH (PROTOCOL.md
// section 3.1), and a cookie NACK is unauthenticated: a client with a key
// ignores it and takes the authenticated ACK that follows. It never sends
// an unsealed datagram or one with flag COOKIE.
func TestCookieIgnoredWithKey(t *testing.T) {
	text, kr := testKeys(t)
	signer, err := auth.NewSender(kr, auth.SenderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clients(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := keyFile(t, text)
			s := startScript(t, func(i int, b []byte) [][]byte {
				h, _, _, err := kr.Open(b)
				if err != nil || h.Flags&wire.FlagCookie != 0 {
					return nil // counted by received and checked below
				}
				ack, err := signer.SignWith(wire.AppendAck(nil, h.ID), h.KeyID)
				if err != nil {
					panic(err)
				}
				return [][]byte{wire.AppendCookieNack(nil, h.ID, wire.Cookie{1, 2, 3, 4, 5, 6, 7, 8}), ack}
			})
			out, code := c.runArgs(t, nil, "--key-file", path, "127.0.0.1", s.port(), "temperature=21.5")
			if code != 0 || acked(out) == 0 {
				t.Errorf("exit %d, output %q; want 0, acked", code, out)
			}
			got := s.received()
			if len(got) != acked(out) {
				t.Errorf("server got %d datagrams, client reports %q", len(got), out)
			}
			for i, b := range got {
				if h, _, _, err := kr.Open(b); err != nil || h.Flags&wire.FlagCookie != 0 {
					t.Errorf("datagram %d %x: %v, flags %v; want sealed, no cookie", i+1, b, err, h.Flags)
				}
			}
		})
	}
}

// TestTransientNack: NACK "rate limited" or "busy" without a cookie is
// not final (PROTOCOL.md section 2): the client retransmits the same
// datagram after its timeout and is acked; a server that keeps answering
// "busy" is reported after the 6 transmissions.
func TestTransientNack(t *testing.T) {
	for _, c := range clients(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Run("then acked", func(t *testing.T) {
				t.Parallel()
				s := startScript(t, func(i int, b []byte) [][]byte {
					h, _, err := wire.Parse(b)
					if err != nil {
						return nil
					}
					switch i {
					case 0:
						return [][]byte{wire.AppendNack(nil, h.ID, wire.CodeRateLimited, "", len(b))}
					case 1:
						return [][]byte{wire.AppendNack(nil, h.ID, wire.CodeBusy, "", len(b))}
					}
					return [][]byte{wire.AppendAck(nil, h.ID)}
				})
				out, code := c.run(t, s.port(), "reading=7")
				got := s.received()
				if code != 0 || acked(out) != 3 || len(got) != 3 {
					t.Errorf("exit %d, output %q, %d datagrams; want 0, \"acked (3 attempts)\", 3", code, out, len(got))
				}
				checkCopies(t, got)
			})
			t.Run("always busy", func(t *testing.T) {
				t.Parallel()
				s := startScript(t, func(i int, b []byte) [][]byte {
					h, _, err := wire.Parse(b)
					if err != nil {
						return nil
					}
					return [][]byte{wire.AppendNack(nil, h.ID, wire.CodeBusy, "", len(b))}
				})
				out, code := c.run(t, s.port(), "reading=7")
				got := s.received()
				if want := "rejected: busy (code 4) after 6 attempts"; code != 1 || strings.TrimSpace(out) != want || len(got) != 6 {
					t.Errorf("exit %d, output %q, %d datagrams; want 1, %q, 6", code, out, len(got), want)
				}
				checkCopies(t, got)
			})
		})
	}
}
