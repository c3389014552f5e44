package client

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"
)

func testKeyring(t testing.TB, seed byte) *auth.Keyring {
	t.Helper()
	k := auth.Key{ID: 7, Role: auth.RoleCurrent}
	for i := range k.Secret {
		k.Secret[i] = seed + byte(i)
	}
	kr, err := auth.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// authServer runs a real udpserver with keys on loopback and counts its
// handler runs.
func authServer(t *testing.T, keys *auth.Keyring) (string, *udpserver.Server, *atomic.Int64) {
	t.Helper()
	var runs atomic.Int64
	s := &udpserver.Server{Keys: keys, Handler: udpserver.HandlerFunc(func(ctx context.Context, r *udpserver.Request) error {
		runs.Add(1)
		if string(r.Payload) == "refuse" {
			return udpserver.Reject(wire.CodeRejected, "no")
		}
		return nil
	})}
	pc, err := udpserver.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	s.Stats() // fixes the server's start, the time floor of authentication
	go s.Serve(pc)
	t.Cleanup(func() { s.Close() })
	return pc.LocalAddr().String(), s, &runs
}

func TestAuthSendPingWithKeys(t *testing.T) {
	keys := testKeyring(t, 1)
	addr, s, runs := authServer(t, keys)
	c := dial(t, addr, Config{Keys: keys})
	ctx := testContext(t)
	if _, err := c.Send(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	var rej *RejectedError
	if _, err := c.Send(ctx, []byte("refuse")); !errors.As(err, &rej) || rej.Reason != "no" {
		t.Fatalf("Send refused: %v", err)
	}
	n := 0
	err := c.SendAll(ctx, slices.Values([][]byte{[]byte("a"), []byte("b"), []byte("c")}), func(i int, r Result, err error) {
		if err != nil {
			t.Errorf("%d: %v", i, err)
		}
		n++
	})
	if err != nil || n != 3 {
		t.Fatalf("SendAll: %v, %d outcomes", err, n)
	}
	p, err := c.Ping(ctx, make([]byte, 10))
	if err != nil || p.Size != wire.HeaderLen+10+wire.AuthTrailerLen {
		t.Fatalf("Ping: %+v %v", p, err)
	}
	if runs.Load() != 5 {
		t.Errorf("handler ran %d times, want 5", runs.Load())
	}
	if st := c.Stats(); st.Unauthenticated != 0 || st.BadAuth != 0 {
		t.Errorf("client stats %+v", st)
	}
	// The largest payload that fits with the trailer, and one byte more.
	if _, err := c.Send(ctx, make([]byte, wire.DefaultMaxDatagram-wire.MinAuthLen)); err != nil {
		t.Fatalf("largest payload: %v", err)
	}
	if _, err := c.Send(ctx, make([]byte, wire.DefaultMaxDatagram-wire.MinAuthLen+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte more: %v, want ErrTooLarge", err)
	}
	if st := s.Stats(); st.Handled != 6 || st.Unauthenticated+st.BadTag+st.Replayed+st.Stale != 0 {
		t.Errorf("server stats %+v", st)
	}
}

// TestAuthWrongOrNoKey: without the key or with a wrong one, the server
// acknowledges nothing and handles nothing.
func TestAuthWrongOrNoKey(t *testing.T) {
	keys := testKeyring(t, 1)
	addr, s, runs := authServer(t, keys)
	for _, tc := range []struct {
		name string
		keys *auth.Keyring
	}{{"no key", nil}, {"wrong key", testKeyring(t, 2)}} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr, Config{Keys: tc.keys, InitialTimeout: 20 * time.Millisecond, MaxTimeout: 40 * time.Millisecond, Retries: 2})
			if _, err := c.Send(testContext(t), []byte("hello")); !errors.Is(err, ErrTimeout) {
				t.Fatalf("Send: %v, want ErrTimeout", err)
			}
			ctx, cancel := context.WithTimeout(testContext(t), 200*time.Millisecond)
			defer cancel()
			if _, err := c.Ping(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Ping: %v, want no answer", err)
			}
		})
	}
	st := s.Stats()
	if runs.Load() != 0 || st.Acked != 0 || st.Pings != 0 || st.Unauthenticated != 4 || st.BadTag != 4 {
		t.Errorf("runs %d, server stats %+v", runs.Load(), st)
	}
}

// rawResponder answers every datagram it gets on a loopback socket with
// what reply returns, and records what it got.
type rawResponder struct {
	pc  *net.UDPConn
	mu  sync.Mutex
	got [][]byte
}

func startRaw(t *testing.T, reply func(n int, b []byte) [][]byte) *rawResponder {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Skip(err)
	}
	r := &rawResponder{pc: pc}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			b := bytes.Clone(buf[:n])
			r.mu.Lock()
			r.got = append(r.got, b)
			k := len(r.got)
			r.mu.Unlock()
			for _, out := range reply(k, b) {
				pc.WriteToUDPAddrPort(out, from)
			}
		}
	}()
	return r
}

func (r *rawResponder) addr() string { return r.pc.LocalAddr().String() }

// TestNoKeyIgnoresAuthAck is the bug of issue 14: a client without keys
// accepted an AUTH-flagged ACK, which it cannot check.
func TestNoKeyIgnoresAuthAck(t *testing.T) {
	keys := testKeyring(t, 1)
	signer, _ := auth.NewSender(keys, auth.SenderConfig{})
	r := startRaw(t, func(_ int, b []byte) [][]byte {
		h, _, err := wire.Parse(b)
		if err != nil {
			return nil
		}
		ack, _ := signer.Sign(wire.AppendAck(nil, h.ID))
		// A forger need not even compute a tag: a flag and 40 bytes.
		fake := append(wire.AppendHeader(nil, wire.Header{Type: wire.TypeAck, Flags: wire.FlagAuth, KeyID: 1, ID: h.ID}), make([]byte, wire.AuthTrailerLen)...)
		return [][]byte{ack, fake}
	})
	c := dial(t, r.addr(), Config{InitialTimeout: 20 * time.Millisecond, MaxTimeout: 40 * time.Millisecond, Retries: 1})
	if _, err := c.Send(testContext(t), []byte("hello")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Send without keys took an AUTH ACK: %v, want ErrTimeout", err)
	}
	if st := c.Stats(); st.Unauthenticated != 4 {
		t.Errorf("stats %+v, want 4 unauthenticated replies ignored", st)
	}
}

// TestKeyIgnoresBadReplies: a client with keys ignores unauthenticated,
// wrongly authenticated and replayed replies, and seals every
// retransmission again (same message, new counter).
func TestKeyIgnoresBadReplies(t *testing.T) {
	keys := testKeyring(t, 1)
	good, _ := auth.NewSender(keys, auth.SenderConfig{})
	wrong, _ := auth.NewSender(testKeyring(t, 2), auth.SenderConfig{})
	var firstAck []byte
	r := startRaw(t, func(k int, b []byte) [][]byte {
		h, _, _, err := keys.Open(b)
		if err != nil {
			return nil
		}
		unauth := wire.AppendAck(nil, h.ID)
		bad, _ := wrong.Sign(wire.AppendAck(nil, h.ID))
		switch k {
		case 1: // message 1, first copy: only bad replies, so it is sent again
			firstAck, _ = good.Sign(wire.AppendAck(nil, h.ID+1)) // kept for message 2
			return [][]byte{unauth, bad}
		case 2: // message 1 again: the real ACK
			ack, _ := good.Sign(wire.AppendAck(nil, h.ID))
			return [][]byte{ack}
		default: // message 2: an ACK sealed earlier is fine; its copy is a replay
			return [][]byte{firstAck, firstAck}
		}
	})
	c := dial(t, r.addr(), Config{Keys: keys, InitialTimeout: 50 * time.Millisecond, MaxTimeout: 100 * time.Millisecond})
	ctx := testContext(t)
	res, err := c.Send(ctx, []byte("one"))
	if err != nil || res.Attempts != 2 {
		t.Fatalf("Send: %+v %v, want acked at the second attempt", res, err)
	}
	if _, err := c.Send(ctx, []byte("two")); err != nil {
		t.Fatalf("second Send: %v", err)
	}
	for deadline := time.Now().Add(testWait); c.Stats().BadAuth < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond) // the replayed copy reaches the reader
	}
	if st := c.Stats(); st.Unauthenticated != 1 || st.BadAuth != 2 || st.Unmatched != 0 {
		t.Errorf("stats %+v, want 1 unauthenticated and 2 bad replies (wrong key, replay), none unmatched", st)
	}
	r.mu.Lock()
	got := slices.Clone(r.got)
	r.mu.Unlock()
	if len(got) < 2 || bytes.Equal(got[0], got[1]) {
		t.Fatalf("retransmission not sealed again: %x", got)
	}
	for i, b := range got[:2] {
		h, body, f, err := keys.Open(b)
		if err != nil || h.Type != wire.TypeData || h.ID != res.ID || string(body) != "one" || f.Counter == 0 {
			t.Errorf("copy %d: %+v %q %+v %v", i, h, body, f, err)
		}
	}
}

// TestAuthDialProbe: with keys, Dial's probe PING (a name with several
// addresses) is sealed, so a server with keys answers it.
func TestAuthDialProbe(t *testing.T) {
	keys := testKeyring(t, 1)
	addr, s, _ := authServer(t, keys)
	_, port, _ := net.SplitHostPort(addr)
	lookup := func(ctx context.Context, host string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}, nil
	}
	c := dial(t, "server.test:"+port, Config{Keys: keys, lookup: lookup})
	if c.RemoteAddr().Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("dialed %v", c.RemoteAddr())
	}
	if st := s.Stats(); st.Pings != 1 || st.Unauthenticated != 0 {
		t.Errorf("server stats %+v: the probe was not a verified PING", st)
	}
}
