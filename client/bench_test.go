package client

import (
	"net"
	"testing"
	"time"

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
