package udpserver

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// TestServeBurst sends more datagrams than fit in one batch before reading
// any reply: every one must be answered exactly once, with its own ID,
// with batch I/O and without, over IPv4 and IPv6, on specific and
// wildcard binds.
func TestServeBurst(t *testing.T) {
	for _, tc := range []struct{ network, bind, to string }{
		{"udp4", "127.0.0.1:0", "127.0.0.1"},
		{"udp4", "0.0.0.0:0", "127.0.0.1"},
		{"udp6", "[::1]:0", "::1"},
		{"udp6", "[::]:0", "::1"},
	} {
		for _, batch := range []int{0, 1, 7} {
			t.Run(fmt.Sprintf("%s/batch=%d", tc.bind, batch), func(t *testing.T) {
				s := &Server{BatchSize: batch}
				addr := serve(t, s, tc.network, tc.bind)
				if addr.Addr().IsUnspecified() {
					addr = netipAddrPortFrom(t, tc.to, addr.Port())
				}
				c := dial(t, tc.network, addr)
				const n = 150 // fits the default socket buffers
				for id := range uint64(n) {
					msg := wire.AppendData(nil, id+1, []byte("burst"))
					if id%10 == 0 {
						msg = wire.Append(nil, wire.Header{Type: wire.TypePing, ID: id + 1}, []byte("p"))
					}
					if _, err := c.Write(msg); err != nil {
						t.Fatal(err)
					}
				}
				seen := make(map[uint64]int)
				for range n {
					h, _ := parseReply(t, recv(t, c))
					want := wire.TypeAck
					if (h.ID-1)%10 == 0 {
						want = wire.TypePong
					}
					if h.Type != want {
						t.Errorf("id %d: got %v, want %v", h.ID, h.Type, want)
					}
					seen[h.ID]++
				}
				for id := range uint64(n) {
					if seen[id+1] != 1 {
						t.Errorf("id %d answered %d times", id+1, seen[id+1])
					}
				}
			})
		}
	}
}

// TestServeAllocs proves that the whole serving path, socket I/O
// included, allocates nothing per datagram in the steady state.
func TestServeAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	for _, tc := range []struct {
		name    string
		bind    string
		batch   int
		sockets int // with the flood detector of the quarantine (jail.go)
	}{
		{"batch", "127.0.0.1:0", 0, 1},
		{"batch-wildcard-pktinfo", "0.0.0.0:0", 0, 1},
		{"single", "127.0.0.1:0", 1, 1},
		{"batch-quarantine", "127.0.0.1:0", 0, 2},
		{"single-quarantine", "127.0.0.1:0", 1, 2},
	} {
		if tc.sockets > 1 && !batchSupported {
			continue // SO_REUSEPORT groups are Linux's
		}
		t.Run(tc.name, func(t *testing.T) {
			// A clock that moves 1 ms per datagram with a 256 ms window: the
			// table settles at 256 entries, one expiring per insert.
			var clock atomic.Int64
			s := &Server{BatchSize: tc.batch, Sockets: tc.sockets, DedupEntries: 512, DedupWindow: 256 * time.Millisecond,
				Handler: HandlerFunc(func(ctx context.Context, r *Request) error { return nil })}
			s.clock = func() int64 { return clock.Add(int64(time.Millisecond)) }
			addr := serve(t, s, "udp4", tc.bind)
			c := dial(t, "udp4", netipAddrPortFrom(t, "127.0.0.1", addr.Port()))
			msg := wire.AppendData(nil, 0, make([]byte, 32))
			rbuf := make([]byte, 2048)
			id := uint64(0)
			exchange := func() {
				id++
				msg[15] = byte(id)
				msg[14] = byte(id >> 8)
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Read(rbuf); err != nil {
					t.Fatal(err)
				}
			}
			c.SetReadDeadline(timeoutFromNow())
			for range 2000 { // fill the de-dup table: every insert expires one
				exchange()
			}
			if n := testing.AllocsPerRun(2000, exchange); n != 0 {
				t.Errorf("%v allocations per exchange, want 0", n)
			}
			// The flood detector reads the clock once per window of 256
			// datagrams too (jail.go): a ms more, so one entry fewer.
			minEntries := 256
			if tc.sockets > 1 {
				minEntries = 255
			}
			if st := s.Stats(); st.Busy != 0 || st.DedupEntries < minEntries || st.DedupEntries > 256 || st.Handled != 4001 {
				t.Errorf("the messages were not all inserted and handled: %+v", st)
			}
		})
	}
}
