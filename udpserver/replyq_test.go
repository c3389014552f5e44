package udpserver

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// TestDeferredRepliesBatched completes many deferred messages at once from
// several goroutines, so that the socket's reply queue sends them in
// batches (and, past its size, some one at a time): every message gets
// exactly one ACK, and every deferred slot is released.
func TestDeferredRepliesBatched(t *testing.T) {
	const n = 1000
	for _, tc := range []struct {
		network, addr, to string
		batch             int
		ackAll            int // AckAll in bursts of this many, not Ack one by one
	}{
		{"udp4", "127.0.0.1:0", "127.0.0.1", 64, 0},
		{"udp4", "127.0.0.1:0", "127.0.0.1", 1, 0},
		{"udp6", "[::1]:0", "::1", 64, 0},
		// A wildcard dual-stack socket: IPv4-mapped senders, and replies
		// leave from the destination address (a control message each).
		{"udp", ":0", "127.0.0.1", 64, 0},
		// Bursts within the reply queue, and past it (300 > 256: the rest
		// leave one write each).
		{"udp4", "127.0.0.1:0", "127.0.0.1", 64, 37},
		{"udp6", "[::1]:0", "::1", 64, 300},
	} {
		d := &deferring{got: make(chan *Responder, n), calls: make(chan uint64, n)}
		s := &Server{Handler: d, BatchSize: tc.batch}
		pc, err := net.ListenPacket(tc.network, tc.addr)
		if err != nil {
			t.Skipf("%s %s: %v", tc.network, tc.addr, err)
		}
		go s.Serve(pc)
		t.Cleanup(func() { s.Close() })
		port := pc.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		c := dial(t, "udp", netip.AddrPortFrom(netip.MustParseAddr(tc.to), port))
		c.SetReadBuffer(1 << 20)
		// Sent in windows of 50, each waited for: the server's socket
		// buffer is not the subject here, the replies are.
		resps := make([]*Responder, 0, n)
		for id := uint64(1); id <= n; id++ {
			if _, err := c.Write(wire.AppendData(nil, id, []byte("x"))); err != nil {
				t.Fatal(err)
			}
			if id%50 != 0 {
				continue
			}
			for uint64(len(resps)) < id {
				select {
				case r := <-d.got:
					resps = append(resps, r)
				case <-time.After(waitTimeout):
					t.Fatalf("%s: %d of %d messages reached the handler", tc.network, len(resps), id)
				}
			}
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if tc.ackAll == 0 {
					for i := g; i < n; i += 4 {
						resps[i].Ack()
						resps[i].Ack() // once only
					}
					return
				}
				var burst []*Responder
				for i := g; i < n; i += 4 {
					if burst = append(burst, resps[i]); len(burst) == tc.ackAll || i+4 >= n {
						AckAll(burst)
						AckAll(burst) // once only
						burst = burst[:0]
					}
				}
			}()
		}
		seen := make(map[uint64]int, n)
		buf := make([]byte, 2048)
		for len(seen) < n {
			c.SetReadDeadline(timeoutFromNow())
			k, err := c.Read(buf)
			if err != nil {
				t.Fatalf("%s batch %d: %d of %d ACKs: %v", tc.network, tc.batch, len(seen), n, err)
			}
			h, _ := parseReply(t, buf[:k])
			if h.Type != wire.TypeAck {
				t.Fatalf("got %v, want ACK", h.Type)
			}
			if seen[h.ID]++; seen[h.ID] > 1 {
				t.Fatalf("second ACK for %d", h.ID)
			}
		}
		wg.Wait()
		ping(t, c, n+100) // no further reply in between
		for deadline := timeoutFromNow(); s.Deferred() != 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if s.Deferred() != 0 {
			t.Errorf("%s: %d deferred slots still held", tc.network, s.Deferred())
		}
		if st := s.Stats(); st.Acked != n || st.WriteErrors != 0 {
			t.Errorf("%s: stats %+v", tc.network, st)
		}
	}
}

// TestDeferredDoneAllocs proves that completing a deferred message through
// the socket's reply queue allocates nothing.
func TestDeferredDoneAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	const runs = 100 // under replyQueueSize: no reply takes the one-write path
	d := &deferring{got: make(chan *Responder, runs+1), calls: make(chan uint64, runs+1)}
	s := &Server{Handler: d}
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	c := dial(t, "udp4", addr)
	resps := make([]*Responder, 0, runs+1)
	for id := range uint64(runs + 1) {
		c.Write(wire.AppendData(nil, id+1, nil))
		resps = append(resps, d.next(t))
	}
	i := 0
	if a := testing.AllocsPerRun(runs, func() { resps[i].Ack(); i++ }); a != 0 {
		t.Errorf("%v allocations per deferred reply, want 0", a)
	}
}

// TestDeferredDoneAfterClose completes deferred messages after Close: the
// replies are lost with the socket, but no completion blocks or keeps its
// deferred slot.
func TestDeferredDoneAfterClose(t *testing.T) {
	d := newDeferring()
	s := &Server{Handler: d}
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	c := dial(t, "udp4", addr)
	var resps []*Responder
	for id := range uint64(3) {
		c.Write(wire.AppendData(nil, id+1, nil))
		resps = append(resps, d.next(t))
	}
	resps[0].Ack() // before Close: sent or lost, either way released
	s.Close()
	resps[1].Ack()
	resps[2].Done(Reject(wire.CodeRejected, "no"))
	for deadline := timeoutFromNow(); s.Deferred() != 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := s.Deferred(); n != 0 {
		t.Errorf("%d deferred slots held after Close and Done", n)
	}
}
