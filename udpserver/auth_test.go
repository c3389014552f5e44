package udpserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

// testKeys returns a keyring with the current key 7 of secret seed, and
// the previous key 6.
func testKeys(t testing.TB, seed byte) *auth.Keyring {
	t.Helper()
	var cur, prev auth.Key
	cur.ID, cur.Role = 7, auth.RoleCurrent
	prev.ID, prev.Role = 6, auth.RolePrevious
	for i := range cur.Secret {
		cur.Secret[i] = seed + byte(i)
		prev.Secret[i] = seed ^ 0x5a + byte(i)
	}
	kr, err := auth.NewKeyring(cur, prev)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// fakeWall is a settable clock for authentication; it also drives the
// server's monotonic clock, so that the de-duplication window passes too.
type fakeWall struct {
	mu sync.Mutex
	t0 time.Time
	d  time.Duration
}

func (f *fakeWall) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t0.Add(f.d)
}

func (f *fakeWall) mono() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(f.d) + 1
}

func (f *fakeWall) advance(d time.Duration) {
	f.mu.Lock()
	f.d += d
	f.mu.Unlock()
}

// authServer returns a server with keys and a fake clock, and a counter of
// handler runs.
func authServer(t testing.TB, keys *auth.Keyring) (*Server, *fakeWall, *atomic.Int64) {
	t.Helper()
	clk := &fakeWall{t0: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	var runs atomic.Int64
	s := &Server{Keys: keys, Handler: HandlerFunc(func(ctx context.Context, r *Request) error {
		if !r.Authenticated || r.KeyID == 0 && r.Sender == 0 {
			t.Errorf("handler got an unauthenticated request %+v", r)
		}
		runs.Add(1)
		if len(r.Payload) > 0 && r.Payload[0] == 'n' {
			return Reject(wire.CodeRejected, "refused by the handler, with a long explanation that must be cut to fit")
		}
		return nil
	})}
	s.wall, s.clock = clk.now, clk.mono
	s.init()
	return s, clk, &runs
}

// sealer returns a Sender on clk with a fixed sender ID.
func sealer(t testing.TB, keys *auth.Keyring, id uint64, clk func() time.Time) *auth.Sender {
	t.Helper()
	s, err := auth.NewSender(keys, auth.SenderConfig{ID: id, Now: clk})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSign(t testing.TB, s *auth.Sender, b []byte) []byte {
	t.Helper()
	out, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// verifyReply checks that reply is authenticated with keys, of type typ
// and for message id, and returns it.
func verifyReply(t testing.TB, keys *auth.Keyring, reply []byte, typ wire.Type, id uint64) auth.Message {
	t.Helper()
	if reply == nil {
		t.Fatalf("no reply, want a %v", typ)
	}
	h, body, f, err := keys.Open(reply)
	if err != nil {
		t.Fatalf("reply %x: %v", reply, err)
	}
	if h.Type != typ || h.ID != id {
		t.Fatalf("reply %v id %d, want %v id %d", h.Type, h.ID, typ, id)
	}
	return auth.Message{Header: h, Body: body, Freshness: f}
}

func TestAuthServerExchange(t *testing.T) {
	keys := testKeys(t, 1)
	s, clk, runs := authServer(t, keys)
	c := sealer(t, keys, 0x1111, clk.now)

	data := wire.AppendData(nil, 42, []byte("hello"))
	first := mustSign(t, c, bytes.Clone(data))
	ack := verifyReply(t, keys, send(s, first, "192.0.2.1:1000"), wire.TypeAck, 42)
	if ack.Header.KeyID != 7 || len(send(s, mustSign(t, c, wire.Append(nil, wire.Header{Type: wire.TypePing, ID: 9}, []byte("pad"))), "192.0.2.1:1000")) != wire.HeaderLen+3+wire.AuthTrailerLen {
		t.Fatalf("ack key %d, or PONG not as long as its PING", ack.Header.KeyID)
	}

	// A retransmission is sealed again: answered from the table, from
	// any port (the identity is the sender ID, not the address).
	again := send(s, mustSign(t, c, bytes.Clone(data)), "192.0.2.1:2000")
	verifyReply(t, keys, again, wire.TypeAck, 42)
	// The identical bytes again, from the same and from other sources: a
	// replay, dropped unanswered.
	for _, from := range []string{"192.0.2.1:1000", "192.0.2.1:3000", "198.51.100.7:1000", "[2001:db8::1]:1000"} {
		if r := send(s, first, from); r != nil {
			t.Fatalf("replay from %s answered: %x", from, r)
		}
	}
	// Another sender ID of the same key, same message ID: another
	// identity, handled.
	other := sealer(t, keys, 0x2222, clk.now)
	verifyReply(t, keys, send(s, mustSign(t, other, bytes.Clone(data)), "192.0.2.1:1000"), wire.TypeAck, 42)

	// A refusal: the NACK is sealed and no longer than the request.
	nackReq := mustSign(t, c, wire.AppendData(nil, 43, []byte("no")))
	nack := send(s, nackReq, "192.0.2.1:1000")
	verifyReply(t, keys, nack, wire.TypeNack, 43)
	if len(nack) > len(nackReq) {
		t.Fatalf("NACK of %d bytes for a request of %d", len(nack), len(nackReq))
	}

	// Signed with the previous key: accepted, answered with that key.
	prev, err := c.SignWith(wire.AppendData(nil, 44, []byte("old key")), 6)
	if err != nil {
		t.Fatal(err)
	}
	if m := verifyReply(t, keys, send(s, prev, "192.0.2.1:1000"), wire.TypeAck, 44); m.Header.KeyID != 6 {
		t.Fatalf("reply to a key-6 request sealed with key %d", m.Header.KeyID)
	}

	st := s.Stats()
	if runs.Load() != 4 || st.Handled != 4 || st.Duplicates != 1 || st.Replayed != 4 || st.Pings != 1 {
		t.Errorf("runs %d, stats %+v", runs.Load(), st)
	}
	if outcomes(st) != st.Received {
		t.Errorf("outcomes %d, received %d", outcomes(st), st.Received)
	}
}

// TestAuthServerDrops: with keys, everything that is not authenticated
// with them, fresh and new, is dropped unanswered and counted, and the
// handler never runs.
func TestAuthServerDrops(t *testing.T) {
	keys := testKeys(t, 1)
	s, clk, runs := authServer(t, keys)
	c := sealer(t, keys, 0x1111, clk.now)
	wrong := sealer(t, testKeys(t, 99), 0x1111, clk.now) // same key IDs, other secrets
	unknown, err := auth.NewKeyring(auth.Key{ID: 8, Secret: [32]byte{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	alien := sealer(t, unknown, 0x3333, clk.now)
	past := sealer(t, keys, 0x4444, func() time.Time { return clk.now().Add(-31 * time.Second) })
	future := sealer(t, keys, 0x5555, func() time.Time { return clk.now().Add(31 * time.Second) })
	tampered := mustSign(t, c, wire.AppendData(nil, 5, []byte("hello")))
	tampered[wire.HeaderLen] ^= 1
	cut := mustSign(t, c, wire.AppendData(nil, 6, []byte("hello")))
	cut = cut[:len(cut)-1]

	for _, tc := range []struct {
		name string
		in   []byte
		stat func(Stats) uint64
	}{
		{"raw text", []byte("hello\n"), func(st Stats) uint64 { return st.Unauthenticated }},
		{"unauthenticated data", wire.AppendData(nil, 1, []byte("hello")), func(st Stats) uint64 { return st.Unauthenticated }},
		{"unauthenticated ping", wire.Append(nil, wire.Header{Type: wire.TypePing, ID: 1}, nil), func(st Stats) uint64 { return st.Unauthenticated }},
		{"wrong secret", mustSign(t, wrong, wire.AppendData(nil, 2, []byte("hello"))), func(st Stats) uint64 { return st.BadTag }},
		{"unknown key ID", mustSign(t, alien, wire.AppendData(nil, 3, []byte("hello"))), func(st Stats) uint64 { return st.BadTag }},
		{"changed byte", tampered, func(st Stats) uint64 { return st.BadTag }},
		{"31 s old", mustSign(t, past, wire.AppendData(nil, 4, nil)), func(st Stats) uint64 { return st.Stale }},
		{"31 s ahead", mustSign(t, future, wire.AppendData(nil, 4, nil)), func(st Stats) uint64 { return st.Stale }},
		{"cut trailer", cut, func(st Stats) uint64 { return st.BadTag }},
		{"short trailer", wire.Append(nil, wire.Header{Type: wire.TypeData, Flags: wire.FlagAuth, KeyID: 7, ID: 7}, make([]byte, wire.AuthTrailerLen-1)), func(st Stats) uint64 { return st.MalformedShort }},
		{"authenticated ack", mustSign(t, c, wire.AppendAck(nil, 8)), func(st Stats) uint64 { return st.Unexpected }},
		{"empty", nil, func(st Stats) uint64 { return st.Empty }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.stat(s.Stats())
			if r := send(s, tc.in, "192.0.2.1:1000"); r != nil {
				t.Fatalf("answered %x", r)
			}
			if got := tc.stat(s.Stats()); got != before+1 {
				t.Errorf("counter %d -> %d, want one more; stats %+v", before, got, s.Stats())
			}
		})
	}
	if runs.Load() != 0 {
		t.Errorf("handler ran %d times", runs.Load())
	}
	if st := s.Stats(); outcomes(st) != st.Received || st.Dropped != st.Received {
		t.Errorf("outcomes %d, dropped %d, received %d: %+v", outcomes(st), st.Dropped, st.Received, st)
	}
}

// TestAuthReplayLater: a captured DATA replayed 5 s and 150 s later (past
// the 120 s de-duplication window, which alone would run the handler
// again) from other addresses is never handled again; datagrams reordered
// within the window are all accepted.
func TestAuthReplayLater(t *testing.T) {
	keys := testKeys(t, 1)
	s, clk, runs := authServer(t, keys)
	c := sealer(t, keys, 0x1111, clk.now)
	captured := mustSign(t, c, wire.AppendData(nil, 1, []byte("open the door")))
	verifyReply(t, keys, send(s, captured, "192.0.2.1:1000"), wire.TypeAck, 1)

	clk.advance(5 * time.Second)
	if r := send(s, captured, "192.0.2.66:4000"); r != nil {
		t.Fatalf("replay 5 s later answered: %x", r)
	}
	clk.advance(145 * time.Second)
	for _, from := range []string{"192.0.2.1:1000", "192.0.2.66:4001"} {
		if r := send(s, captured, from); r != nil {
			t.Fatalf("replay 150 s later from %s answered: %x", from, r)
		}
	}
	st := s.Stats()
	if runs.Load() != 1 || st.Replayed != 1 || st.Stale != 2 {
		t.Errorf("runs %d, stats %+v", runs.Load(), st)
	}

	// Reordering within the window: seal 64, deliver in another order.
	var msgs [][]byte
	for i := range 64 {
		msgs = append(msgs, mustSign(t, c, wire.AppendData(nil, uint64(100+i), nil)))
	}
	for _, i := range []int{63, 0, 31, 1, 62} {
		verifyReply(t, keys, send(s, msgs[i], "192.0.2.1:1000"), wire.TypeAck, uint64(100+i))
	}
	for i, m := range msgs {
		switch i {
		case 63, 0, 31, 1, 62:
			if r := send(s, m, "192.0.2.1:1000"); r != nil {
				t.Fatalf("duplicate %d answered", i)
			}
		default:
			verifyReply(t, keys, send(s, m, "192.0.2.1:1000"), wire.TypeAck, uint64(100+i))
		}
	}
	if st := s.Stats(); runs.Load() != 65 || st.DedupExpired != 1 {
		// DedupExpired: the captured message's entry was gone at 150 s,
		// so only authentication kept the replay out.
		t.Errorf("handler ran %d times, want 65; stats %+v", runs.Load(), st)
	}
}

// TestAuthRateLimitByIdentity: with keys, datagrams forged with a
// sender's address (bad tags, no tags) never touch its rate budget, and
// the budget belongs to the sender ID, not to the address.
func TestAuthRateLimitByIdentity(t *testing.T) {
	keys := testKeys(t, 1)
	clk := &fakeWall{t0: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	s := &Server{Keys: keys, RateLimit: 1, RateBurst: 3}
	s.wall, s.clock = clk.now, clk.mono
	s.init()
	victim := sealer(t, keys, 0x1111, clk.now)
	forger := sealer(t, testKeys(t, 99), 0x1111, clk.now) // the victim's sender ID, without the secret
	for i := range 1000 {
		send(s, mustSign(t, forger, wire.AppendData(nil, uint64(i), nil)), "192.0.2.1:1000")
		send(s, wire.AppendData(nil, uint64(i), nil), "192.0.2.1:1000")
	}
	for i := range 3 {
		verifyReply(t, keys, send(s, mustSign(t, victim, wire.AppendData(nil, uint64(i), nil)), "192.0.2.1:1000"), wire.TypeAck, uint64(i))
	}
	// Its burst is spent: a sealed NACK "rate limited", then silence.
	m := verifyReply(t, keys, send(s, mustSign(t, victim, wire.AppendData(nil, 3, nil)), "192.0.2.1:1000"), wire.TypeNack, 3)
	if m.Header.Code != wire.CodeRateLimited {
		t.Fatalf("NACK code %v", m.Header.Code)
	}
	// Another sender ID on the same address has its own budget.
	other := sealer(t, keys, 0x2222, clk.now)
	verifyReply(t, keys, send(s, mustSign(t, other, wire.AppendData(nil, 1, nil)), "192.0.2.1:1000"), wire.TypeAck, 1)
	st := s.Stats()
	if st.BadTag != 1000 || st.Unauthenticated != 1000 || st.RateLimited != 1 || st.RateSources != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestAuthDedupShares: authenticated senders' shares are per sender ID,
// and per key ID in place of the host; an address forger cannot use them.
func TestAuthDedupShares(t *testing.T) {
	keys := testKeys(t, 1)
	clk := &fakeWall{t0: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	s := &Server{Keys: keys, DedupPerSource: 2, DedupPerHost: 3}
	s.wall, s.clock = clk.now, clk.mono
	s.init()
	a := sealer(t, keys, 0xa, clk.now)
	b := sealer(t, keys, 0xb, clk.now)
	for i := range 2 {
		verifyReply(t, keys, send(s, mustSign(t, a, wire.AppendData(nil, uint64(i), nil)), "192.0.2.1:1000"), wire.TypeAck, uint64(i))
	}
	// Over its share, from any port: NACK busy, sealed.
	if m := verifyReply(t, keys, send(s, mustSign(t, a, wire.AppendData(nil, 9, nil)), "192.0.2.1:2000"), wire.TypeNack, 9); m.Header.Code != wire.CodeBusy {
		t.Fatalf("code %v", m.Header.Code)
	}
	// b on a's address is its own sender; the key holds 3 in all.
	verifyReply(t, keys, send(s, mustSign(t, b, wire.AppendData(nil, 0, nil)), "192.0.2.1:1000"), wire.TypeAck, 0)
	if m := verifyReply(t, keys, send(s, mustSign(t, b, wire.AppendData(nil, 1, nil)), "192.0.2.1:1000"), wire.TypeNack, 1); m.Header.Code != wire.CodeBusy {
		t.Fatalf("code %v", m.Header.Code)
	}
	if st := s.Stats(); st.DedupOverShare != 1 || st.DedupOverHost != 1 || st.DedupEntries != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestNoKeysDropsAuth: a server without keys drops authenticated
// datagrams (it cannot check them) and counts them.
func TestNoKeysDropsAuth(t *testing.T) {
	keys := testKeys(t, 1)
	s := &Server{}
	c := sealer(t, keys, 1, time.Now)
	if r := send(s, mustSign(t, c, wire.AppendData(nil, 1, []byte("x"))), "192.0.2.1:1000"); r != nil {
		t.Fatalf("answered %x", r)
	}
	if st := s.Stats(); st.AuthUnsupported != 1 || st.Handled != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestAuthServeLoopback: over real sockets, a captured DATA replayed 5 s
// later from another port is not handled again; the server's replies
// verify; a client with the wrong key gets nothing.
func TestAuthServeLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 5 s")
	}
	t.Parallel()
	keys := testKeys(t, 1)
	var runs atomic.Int64
	s := &Server{Keys: keys, Handler: HandlerFunc(func(ctx context.Context, r *Request) error { runs.Add(1); return nil })}
	s.init() // its start is the time floor: before the client seals anything
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	c1, c2 := dial(t, "udp4", addr), dial(t, "udp4", addr)
	cs := sealer(t, keys, 0, time.Now)
	captured := mustSign(t, cs, wire.AppendData(nil, 1, []byte("hello")))
	verifyReply(t, keys, roundTrip(t, c1, captured), wire.TypeAck, 1)

	wrong := sealer(t, testKeys(t, 99), 0, time.Now)
	c2.Write(mustSign(t, wrong, wire.AppendData(nil, 2, []byte("forged"))))
	c2.Write([]byte("raw\n"))
	time.Sleep(5 * time.Second)
	c2.Write(captured)
	// A sealed PING after them: the next reply on c2 must be its PONG, so
	// nothing was answered for the three datagrams before it.
	verifyReply(t, keys, roundTrip(t, c2, mustSign(t, cs, wire.Append(nil, wire.Header{Type: wire.TypePing, ID: 3}, nil))), wire.TypePong, 3)
	st := s.Stats()
	if runs.Load() != 1 || st.Replayed != 1 || st.BadTag != 1 || st.Unauthenticated != 1 {
		t.Errorf("runs %d, stats %+v", runs.Load(), st)
	}
}

// TestProcessAllocsAuth: with keys, the verified path (tag, replay window,
// rate limit, de-duplication, sealed reply) and the refusals allocate
// nothing per datagram.
func TestProcessAllocsAuth(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	keys := testKeys(t, 1)
	clk := &fakeWall{t0: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	s := &Server{Keys: keys, RateLimit: 1e9, DedupEntries: 1024, DedupWindow: time.Second,
		Handler: HandlerFunc(func(ctx context.Context, r *Request) error { return nil })}
	// 1 ms per datagram: the de-dup table settles at 1000 entries.
	s.wall, s.clock = clk.now, func() int64 { clk.advance(time.Millisecond); return clk.mono() }
	s.init()
	c := sealer(t, keys, 0x1111, clk.now)
	wrong := sealer(t, testKeys(t, 99), 0x1111, clk.now)
	p := newPacketFor(s, nil, "192.0.2.1:4000")
	reply := make([]byte, 0, 2048)
	scratch := make([]byte, 0, 2048)
	id := uint64(0)
	deliver := func(sg *auth.Sender, typ wire.Type) []byte {
		id++
		b, err := sg.Sign(wire.Append(scratch[:0], wire.Header{Type: typ, ID: id}, benchPayload))
		if err != nil {
			t.Fatal(err)
		}
		p.n = copy(p.buf, b)
		return s.process(bg, p, reply)
	}
	for range 4096 {
		deliver(c, wire.TypeData)
	}
	var last []byte
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"data new", func() { last = deliver(c, wire.TypeData) }},
		{"data retransmitted", func() {
			b, _ := c.Sign(wire.Append(scratch[:0], wire.Header{Type: wire.TypeData, ID: id}, benchPayload))
			p.n = copy(p.buf, b)
			last = s.process(bg, p, reply)
		}},
		{"ping", func() { last = deliver(c, wire.TypePing) }},
		{"replay", func() { s.process(bg, p, reply) }},
		{"bad tag", func() { deliver(wrong, wire.TypeData) }},
	} {
		if n := testing.AllocsPerRun(1000, tc.f); n != 0 {
			t.Errorf("%s: %v allocations per datagram, want 0", tc.name, n)
		}
	}
	if last == nil {
		t.Fatal("no reply")
	}
	if st := s.Stats(); st.Busy != 0 || st.Handled < 4096+1001 || st.Duplicates != 1000 || st.BadTag != 1001 || st.Replayed != 1001 {
		t.Errorf("stats %+v", st)
	}
}

// TestServeAllocsAuth is TestServeAllocs with keys: whole exchanges over
// a real socket, sealed and verified on both sides.
func TestServeAllocsAuth(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	for _, batch := range []int{0, 1} {
		keys := testKeys(t, 1)
		var clock atomic.Int64
		s := &Server{Keys: keys, BatchSize: batch, DedupEntries: 512, DedupWindow: 256 * time.Millisecond,
			Handler: HandlerFunc(func(ctx context.Context, r *Request) error { return nil })}
		s.clock = func() int64 { return clock.Add(int64(time.Millisecond)) }
		s.init() // its start is the time floor: before the client seals anything
		addr := serve(t, s, "udp4", "127.0.0.1:0")
		c := dial(t, "udp4", addr)
		cs := sealer(t, keys, 0, time.Now)
		inbox := auth.NewReceiver(keys, auth.ReplayConfig{})
		msg := make([]byte, 0, 256)
		rbuf := make([]byte, 2048)
		id := uint64(0)
		exchange := func() {
			id++
			b, err := cs.Sign(wire.Append(msg[:0], wire.Header{Type: wire.TypeData, ID: id}, benchPayload))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
			n, err := c.Read(rbuf)
			if err != nil {
				t.Fatalf("exchange %d: %v; stats %+v", id, err, s.Stats())
			}
			if m, err := inbox.Verify(rbuf[:n]); err != nil || m.Header.Type != wire.TypeAck || m.Header.ID != id {
				t.Fatalf("reply %x: %v", rbuf[:n], err)
			}
		}
		c.SetReadDeadline(timeoutFromNow())
		for range 2000 {
			exchange()
		}
		if n := testing.AllocsPerRun(2000, exchange); n != 0 {
			t.Errorf("batch %d: %v allocations per exchange, want 0", batch, n)
		}
		if st := s.Stats(); st.Handled != 4001 || st.DedupEntries != 256 {
			t.Errorf("batch %d: stats %+v", batch, st)
		}
	}
}

// TestAuthDeferredReplySealed: a reply deferred by the handler
// (Request.Defer) is sealed with the request's key like any other.
func TestAuthDeferredReplySealed(t *testing.T) {
	keys := testKeys(t, 1)
	s := &Server{Keys: keys, Handler: HandlerFunc(func(ctx context.Context, r *Request) error {
		resp, err := r.Defer()
		if err != nil {
			return err
		}
		go resp.Done(Reject(wire.CodeRejected, "later, no"))
		return nil
	})}
	s.init()
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	c := dial(t, "udp4", addr)
	cs := sealer(t, keys, 0, time.Now)
	req, err := cs.SignWith(wire.AppendData(nil, 5, []byte("a deferred message")), 6)
	if err != nil {
		t.Fatal(err)
	}
	reply := roundTrip(t, c, req)
	m := verifyReply(t, keys, reply, wire.TypeNack, 5)
	if m.Header.KeyID != 6 || string(m.Body) != "later, no" || len(reply) > len(req) {
		t.Fatalf("deferred NACK %+v %q (%d bytes for a %d-byte request)", m.Header, m.Body, len(reply), len(req))
	}
	// Its retransmission is answered from the table, sealed again.
	again, _ := cs.SignWith(wire.AppendData(nil, 5, []byte("a deferred message")), 6)
	verifyReply(t, keys, roundTrip(t, c, again), wire.TypeNack, 5)
}

// BenchmarkServeKeyed is BenchmarkServe's data-ack and ping-pong with and
// without Keys, for BENCHMARKS.md's before/after: whole exchanges over
// loopback, the client sealing and verifying on the same machine.
func BenchmarkServeKeyed(b *testing.B) {
	keys := testKeys(b, 1)
	for _, keyed := range []bool{false, true} {
		for _, typ := range []wire.Type{wire.TypeData, wire.TypePing} {
			for _, inflight := range []int{1, 64} {
				name := fmt.Sprintf("keys=%v/%v/inflight=%d", keyed, typ, inflight)
				b.Run(name, func(b *testing.B) {
					s := &Server{DedupWindow: 100 * time.Millisecond, DedupPerSource: 1 << 18,
						Handler: HandlerFunc(func(ctx context.Context, r *Request) error { return nil })}
					mk := func(dst []byte, id uint64) []byte {
						return wire.Append(dst, wire.Header{Type: typ, ID: id}, benchPayload)
					}
					if keyed {
						s.Keys = keys
						sg := sealer(b, keys, 0, time.Now)
						plain := mk
						mk = func(dst []byte, id uint64) []byte {
							out, err := sg.Sign(plain(dst, id))
							if err != nil {
								b.Fatal(err)
							}
							return out
						}
					}
					s.init()
					pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
					if err != nil {
						b.Fatal(err)
					}
					done := make(chan error, 1)
					go func() { done <- s.Serve(pc) }()
					c := dial(b, "udp4", pc.LocalAddr().(*net.UDPAddr).AddrPort())
					closedLoop(b, c, inflight, mk)
					s.Close()
					<-done
				})
			}
		}
	}
}

// BenchmarkProcessKeyed measures the server's protocol path alone with
// keys: verify (HMAC, replay window), de-duplicate, handle, seal the ACK;
// and the cost of refusing a bad tag. The datagrams are sealed beforehand,
// off the clock.
func BenchmarkProcessKeyed(b *testing.B) {
	keys := testKeys(b, 1)
	s := &Server{Keys: keys, DedupWindow: 10 * time.Millisecond, DedupPerSource: 1 << 18,
		Handler: HandlerFunc(func(ctx context.Context, r *Request) error { return nil })}
	s.init()
	reply := make([]byte, 0, 2048)
	const ring = 1 << 14
	for _, tc := range []struct {
		name string
		keys *auth.Keyring
	}{{"data-ack", keys}, {"bad-tag", testKeys(b, 99)}} {
		b.Run(tc.name, func(b *testing.B) {
			sg := sealer(b, tc.keys, 0, time.Now)
			sealed := make([][]byte, ring)
			id := uint64(0)
			reseal := func() {
				for i := range sealed {
					id++
					out, err := sg.Sign(appendBenchData(sealed[i][:0], id))
					if err != nil {
						b.Fatal(err)
					}
					sealed[i] = out
				}
			}
			reseal()
			p := newPacketFor(s, sealed[0], "192.0.2.1:4000")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%ring == 0 && i > 0 {
					b.StopTimer()
					reseal()
					b.StartTimer()
				}
				p.n = copy(p.buf, sealed[i%ring])
				s.process(bg, p, reply)
			}
		})
	}
}
