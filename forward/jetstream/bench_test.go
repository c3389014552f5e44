package jetstream

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/natstest"
	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"
)

// BenchmarkForward measures acknowledged-and-stored messages: a closed-loop
// client on loopback keeps inflight DATA messages (104-byte payload, 120-byte
// datagrams) outstanding against a udpserver whose Forwarder publishes to an
// embedded JetStream server (file storage, R1) in this process. ns/op is per
// message stored and acknowledged.
func BenchmarkForward(b *testing.B) {
	for _, inflight := range []int{1, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			node := natstest.Start(b)
			nc := connect(b, node.URL())
			addStream(b, nc, "UDPKIT", 1)
			// One sender with fresh IDs: its share of the de-duplication
			// table (16384 IDs by default) would turn the rest into NACK
			// busy; a short window and large shares, as BENCHMARKS.md's
			// udpserver flags.
			st := startStackServer(b, nc, Config{}, nil, &udpserver.Server{
				DedupWindow: 200 * time.Millisecond, DedupPerSource: 1 << 18, DedupPerHost: 1 << 18})
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(st.addr))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			payload := make([]byte, 104)
			buf := make([]byte, 2048)
			var dg []byte
			id := uint64(1)
			send := func() {
				dg = wire.AppendData(dg[:0], id, payload)
				id++
				if _, err := c.Write(dg); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			sent, got := 0, 0
			for ; sent < min(inflight, b.N); sent++ {
				send()
			}
			for got < b.N {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, err := c.Read(buf)
				if err != nil {
					b.Fatalf("after %d replies: %v", got, err)
				}
				if h, _, err := wire.Parse(buf[:n]); err != nil || h.Type != wire.TypeAck {
					b.Fatalf("reply %+v %v, want ACK", h, err)
				}
				got++
				if sent < b.N {
					send()
					sent++
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acks/s")
		})
	}
}
