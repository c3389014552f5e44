package udpserver

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/udpkit/udpkit/wire"
)

// TestDedupForgedOtherPorts is issue 13's attack: DATA A from a client,
// then 300 DATA with the client's IP from other ports (another program on
// the host, or forged), then A again. A must not be handled a second time.
func TestDedupForgedOtherPorts(t *testing.T) {
	var runs atomic.Int64
	s := &Server{Handler: counting(&runs)}
	a := wire.AppendData(nil, 42, []byte("A"))
	send(s, a, "192.0.2.1:1000")
	for i := range 300 {
		send(s, wire.AppendData(nil, uint64(i), []byte("forged")), fmt.Sprintf("192.0.2.1:%d", 2000+i))
	}
	n := runs.Load()
	if got := send(s, a, "192.0.2.1:1000"); string(got) != string(wire.AppendAck(nil, 42)) {
		t.Errorf("retransmission of A got %x, want its ACK", got)
	}
	if runs.Load() != n {
		t.Errorf("A was handled again after 300 datagrams from other ports of its IP")
	}
}

// TestDedupFastClient is issue 13's pipelining client: 5000 messages from
// one socket, each retransmitted once a while later (its ACK lost): none
// may run the handler twice.
func TestDedupFastClient(t *testing.T) {
	var runs atomic.Int64
	s := &Server{Handler: counting(&runs)}
	const lag = 1000 // the retransmission comes this many messages later
	for i := range 5000 + lag {
		if i < 5000 {
			send(s, wire.AppendData(nil, uint64(i), nil), "192.0.2.1:1000")
		}
		if j := i - lag; j >= 0 {
			send(s, wire.AppendData(nil, uint64(j), nil), "192.0.2.1:1000")
		}
	}
	if runs.Load() != 5000 {
		t.Errorf("handler ran %d times for 5000 messages", runs.Load())
	}
}

// TestDedupOtherSocketsOverUDP is TestDedupForgedOtherPorts over real
// loopback sockets: message A from one socket, 300 DATA from 30 other
// sockets of the same IP (as another program on the host, or datagrams
// forged with its address, would send), then A again: answered from the
// table, not handled again.
func TestDedupOtherSocketsOverUDP(t *testing.T) {
	var mu sync.Mutex
	runs := map[string]int{}
	s := &Server{Handler: HandlerFunc(func(ctx context.Context, r *Request) error {
		mu.Lock()
		runs[fmt.Sprintf("%v/%d", r.Remote, r.ID)]++
		mu.Unlock()
		return nil
	})}
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	victim := dial(t, "udp4", addr)
	a := wire.AppendData(nil, 42, []byte("A"))
	if got := roundTrip(t, victim, a); string(got) != string(wire.AppendAck(nil, 42)) {
		t.Fatalf("first A: reply %x", got)
	}
	for i := range 30 {
		other := dial(t, "udp4", addr)
		for j := range 10 {
			roundTrip(t, other, wire.AppendData(nil, uint64(i*10+j), []byte("other")))
		}
	}
	if got := roundTrip(t, victim, a); string(got) != string(wire.AppendAck(nil, 42)) {
		t.Fatalf("A again: reply %x, want its ACK", got)
	}
	mu.Lock()
	defer mu.Unlock()
	key := fmt.Sprintf("%v/42", victim.LocalAddr().(*net.UDPAddr).AddrPort())
	if runs[key] != 1 || len(runs) != 301 {
		t.Errorf("A handled %d times (want 1), %d exchanges handled (want 301)", runs[key], len(runs))
	}
	if st := s.Stats(); st.Duplicates != 1 || st.Busy != 0 {
		t.Errorf("stats %+v", st)
	}
}
