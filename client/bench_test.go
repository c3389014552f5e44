package client

import (
	"net"
	"testing"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/client/clienttest"
	"github.com/udpkit/udpkit/wire"
)

func TestBench(t *testing.T) {
	r := clienttest.StartT(t, "127.0.0.1:0", clienttest.Behavior{})
	ra, err := net.ResolveUDPAddr("udp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	for _, ping := range []bool{false, true} {
		conn, err := net.DialUDP("udp", nil, ra)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Bench(testContext(t), conn, BenchConfig{Ping: ping, InFlight: 4, Duration: 200 * time.Millisecond})
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := wire.TypeData
		if ping {
			want = wire.TypePing
		}
		if res.Kind != want || res.Replies == 0 || res.Sent < res.Replies || res.Size != DefaultBenchSize ||
			res.RTTP50 <= 0 || res.RTTP99 < res.RTTP50 || res.RTTMax < res.RTTP99 || res.Elapsed < 200*time.Millisecond {
			t.Errorf("ping %v: implausible result %+v", ping, res)
		}
	}
	if d := DefaultBenchConfig(); d.InFlight != 1 || d.Size != 120 || d.Duration != 5*time.Second || d.Timeout != 500*time.Millisecond {
		t.Errorf("DefaultBenchConfig() = %+v", d)
	}
}

// TestBenchAll loads one responder from three sockets at once: the result
// says three sockets and its counts add up to what the responder handled.
func TestBenchAll(t *testing.T) {
	r := clienttest.StartT(t, "127.0.0.1:0", clienttest.Behavior{})
	ra, err := net.ResolveUDPAddr("udp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	var conns []*net.UDPConn
	for range 3 {
		c, err := net.DialUDP("udp", nil, ra)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	res, err := BenchAll(testContext(t), conns, BenchConfig{InFlight: 8, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Conns != 3 || res.InFlight != 8 || res.Sent < 3*8 || res.Replies == 0 || res.Sent < res.Replies || res.RTTP99 < res.RTTP50 {
		t.Errorf("implausible result %+v", res)
	}
	if got := len(r.Handled()); got < res.Replies {
		t.Errorf("responder handled %d, bench counted %d replies", got, res.Replies)
	}
}

// TestBenchKeyFile loads a real keyed udpserver: with its key the replies
// come back authenticated and the handler runs; with a wrong key or none
// the server acknowledges nothing and handles nothing.
func TestBenchKeyFile(t *testing.T) {
	keys := testKeyring(t, 1)
	addr, s, runs := authServer(t, keys)
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	bench := func(keys *auth.Keyring, ping bool) BenchResult {
		t.Helper()
		var conns []*net.UDPConn
		for range 2 {
			c, err := net.DialUDP("udp", nil, ra)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns = append(conns, c)
		}
		res, err := BenchAll(testContext(t), conns, BenchConfig{Keys: keys, Ping: ping, InFlight: 4, Duration: 300 * time.Millisecond, Timeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, ping := range []bool{false, true} {
		res := bench(keys, ping)
		if res.Replies == 0 || res.Nacks != 0 || res.Unauthenticated != 0 || res.BadAuth != 0 {
			t.Fatalf("ping %v, with the key: %+v", ping, res)
		}
		if got := runs.Load(); !ping && got < int64(res.Replies) {
			t.Errorf("server handled %d, bench counted %d replies", got, res.Replies)
		}
	}
	// The keyed runs end with requests in flight: let the server handle
	// them before taking the baseline.
	st := s.Stats()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		now := s.Stats()
		if now.Pings == st.Pings && now.Acked == st.Acked {
			break
		}
		st = now
	}
	before := runs.Load()
	for _, ping := range []bool{false, true} {
		for name, k := range map[string]*auth.Keyring{"wrong key": testKeyring(t, 2), "no key": nil} {
			res := bench(k, ping)
			if res.Replies != 0 || res.Nacks != 0 || res.Sent == 0 || res.Lost == 0 {
				t.Errorf("ping %v, %s: %+v, want requests sent and lost, nothing answered", ping, name, res)
			}
		}
	}
	after := s.Stats()
	if got := runs.Load(); got != before {
		t.Errorf("handler ran %d times for requests without the key", got-before)
	}
	if after.Acked != st.Acked || after.Pings != st.Pings || after.Nacked != st.Nacked {
		t.Errorf("server answered requests without the key: acked %d → %d, pings %d → %d, nacked %d → %d",
			st.Acked, after.Acked, st.Pings, after.Pings, st.Nacked, after.Nacked)
	}
	if after.Unauthenticated == st.Unauthenticated || after.BadTag == st.BadTag {
		t.Errorf("server did not count the refused requests: %+v → %+v", st, after)
	}
}

// TestBenchKeysAllocs: sealing a request and verifying its reply allocate
// nothing once the sockets run.
// The request path (header, seal in place) and the reply path (verify a
// known sender) of a keyed bench allocate nothing.
func TestBenchKeysAllocs(t *testing.T) {
	keys := testKeyring(t, 1)
	sec, peer := newAuthState(keys), newAuthState(keys)
	buf := make([]byte, DefaultBenchSize, DefaultBenchSize+sec.overhead())
	reply := make([]byte, 0, 64)
	id := uint64(1)
	round := func() {
		wire.AppendHeader(buf[:0], wire.Header{Type: wire.TypePing, ID: id})
		req, err := sec.signer.Sign(buf)
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := peer.open(req)
		if err != nil {
			t.Fatal(err)
		}
		r, err := peer.signer.SignWith(wire.AppendHeader(reply[:0], wire.Header{Type: wire.TypePong, ID: h.ID}), h.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sec.open(r); err != nil {
			t.Fatal(err)
		}
		id++
	}
	round() // the first datagram of each sender makes its replay window
	if n := testing.AllocsPerRun(1000, round); n != 0 {
		t.Errorf("%.1f allocations per request and reply, want 0", n)
	}
}

func TestBenchPerSecond(t *testing.T) {
	r := BenchResult{Elapsed: 2 * time.Second, Replies: 2400}
	if got := r.PerSecond(); got != 1200 {
		t.Errorf("PerSecond = %v, want 1200", got)
	}
	if got := (BenchResult{}).PerSecond(); got != 0 {
		t.Errorf("empty PerSecond = %v", got)
	}
}
