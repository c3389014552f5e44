package udpserver

import (
	"net"
	"testing"

	"golang.org/x/net/ipv4"

	"github.com/udpkit/udpkit/wire"
)

// BenchmarkXNetReadBatch measures what golang.org/x/net's ReadBatch costs
// per datagram (one op is one datagram), the reason batch_linux.go calls
// recvmmsg itself: x/net returns each sender as a new *net.UDPAddr.
func BenchmarkXNetReadBatch(b *testing.B) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	c := dial(b, "udp4", pc.LocalAddr().(*net.UDPAddr).AddrPort())
	p := ipv4.NewPacketConn(pc)
	ms := make([]ipv4.Message, DefaultBatchSize)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	msg := wire.AppendData(nil, 1, benchPayload)
	b.ReportAllocs()
	for i := 0; i < b.N; {
		k := min(32, b.N-i) // stay well inside the socket buffer
		for range k {
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
		}
		for got := 0; got < k; {
			n, err := p.ReadBatch(ms, 0)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
		i += k
	}
}
