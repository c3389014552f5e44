package discovery

import (
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// recConn is a pconn that records what is written to it.
type recConn struct {
	dummyConn
	mu   sync.Mutex
	dsts []netip.AddrPort
}

func (c *recConn) writeTo(b []byte, dst netip.AddrPort, ifIndex int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dsts = append(c.dsts, dst)
	return nil
}

func (c *recConn) sent() []netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]netip.AddrPort(nil), c.dsts...)
}

func handleTestAnnouncer() (*Announcer, *recConn) {
	a := &Announcer{cfg: AnnouncerConfig{Service: "_udpkit._udp", Instance: "srv", Port: 9797, MaxAnswerDelay: 5 * time.Millisecond},
		links: testLinks(), ttl: 120, seen: map[queryKey]*queryState{}, warm: true, wake: make(chan struct{}, 1)}
	a.log = slog.New(slog.DiscardHandler)
	c := &recConn{}
	a.uni[0], a.uni[1] = c, dummyConn{}
	return a, c
}

// The answer to a query leaves from the goroutine that read the query,
// before handle returns (no hand-off to Run: that cost a thread wake-up
// per datagram), and a first round is answered by unicast alone; the
// shared copy of an answer to a repeated query waits for Run's timer.
func TestHandleAnswersAtOnce(t *testing.T) {
	a, c := handleTestAnnouncer()
	src := netip.MustParseAddrPort("198.18.0.20:40000")
	q, _ := wire.AppendQuery(nil, 1, wire.Query{}, 512)
	a.handle(inPacket{b: q, src: src, ifIndex: 2, at: time.Now()})
	if got := c.sent(); len(got) != 1 || got[0] != src {
		t.Fatalf("first round: sent to %v, want %v alone", got, src)
	}
	if len(a.pending) != 0 || len(a.wake) != 0 {
		t.Fatalf("first round: %d shared copies pending, Run woken %v; want none", len(a.pending), len(a.wake) != 0)
	}
	q, _ = wire.AppendQuery(nil, 2, wire.Query{Again: true}, 512)
	a.handle(inPacket{b: q, src: src, ifIndex: 2, at: time.Now()})
	if got := c.sent(); len(got) != 2 || got[1] != src {
		t.Fatalf("repeated query: sent to %v, want %v twice", got, src)
	}
	if len(a.pending) != 1 || a.pending[0].shared != netip.MustParseAddrPort("198.18.0.255:40000") || a.pending[0].dst.IsValid() {
		t.Fatalf("repeated query: pending %+v, want the broadcast copy alone", a.pending)
	}
	if len(a.wake) != 1 {
		t.Fatal("repeated query: Run not woken for the shared copy")
	}
}

// BenchmarkHandleQuery measures what an Announcer spends on one query
// between the read and the answer's write (the fake socket costs nothing).
func BenchmarkHandleQuery(b *testing.B) {
	a, c := handleTestAnnouncer()
	src := netip.MustParseAddrPort("198.18.0.20:40000")
	var q []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q, _ = wire.AppendQuery(q[:0], uint64(i)+1, wire.Query{Service: "_udpkit._udp"}, DefaultQuerySize)
		a.handle(inPacket{b: q, src: src, ifIndex: 2, at: time.Now()})
		if i%1024 == 0 {
			c.mu.Lock()
			c.dsts = c.dsts[:0]
			c.mu.Unlock()
		}
	}
}
