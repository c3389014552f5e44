package udpserver

import (
	"fmt"
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
