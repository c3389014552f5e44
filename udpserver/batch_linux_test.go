package udpserver

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

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

// exchangeConn is a batchUDPConn on a fresh loopback socket, with a client
// connected to it.
func exchangeConn(t *testing.T) (*net.UDPConn, *batchUDPConn, *net.UDPConn) {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	bc, ok := newBatchConn(newConn(pc, slog.New(slog.DiscardHandler)), 8, 2048).(*batchUDPConn)
	if !ok {
		t.Fatal("no batch I/O on a *net.UDPConn")
	}
	return pc, bc, dial(t, "udp4", pc.LocalAddr().(*net.UDPAddr).AddrPort())
}

// readN exchanges with no replies until k datagrams were read.
func readN(t *testing.T, bc *batchUDPConn, k int) {
	t.Helper()
	got := 0
	for got < k {
		_, _, n, err := bc.exchange(0, nil)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
}

func sendAll(t *testing.T, c *net.UDPConn, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
}

func expectReplies(t *testing.T, c *net.UDPConn, want ...string) {
	t.Helper()
	for _, w := range want {
		if got := string(recv(t, c)); got != w {
			t.Fatalf("reply %q, want %q", got, w)
		}
	}
}

// TestExchangeRepliesThenReads: the replies to a batch leave (in order,
// nil ones skipped) before the next batch is read over their senders'
// sockaddrs, in the same exchange.
func TestExchangeRepliesThenReads(t *testing.T) {
	_, bc, c := exchangeConn(t)
	sendAll(t, c, "a", "b", "c")
	readN(t, bc, 3)
	sendAll(t, c, "d")
	outs := [][]byte{[]byte("ra"), nil, []byte("rc")}
	failed, werr, next, err := bc.exchange(3, outs)
	if failed != 0 || werr != nil || err != nil || next != 1 {
		t.Fatalf("exchange = %d, %v, %d, %v; want 0, nil, 1, nil", failed, werr, next, err)
	}
	if got := string(bc.pkts[0].buf[:bc.pkts[0].n]); got != "d" {
		t.Fatalf("read %q, want d", got)
	}
	expectReplies(t, c, "ra", "rc")
}

// TestExchangeRepliesOnReadDeadline: a read that fails before its callback
// runs (Shutdown's read deadline) still sends the batch's replies.
func TestExchangeRepliesOnReadDeadline(t *testing.T) {
	pc, bc, c := exchangeConn(t)
	sendAll(t, c, "a", "b")
	readN(t, bc, 2)
	pc.SetReadDeadline(time.Now().Add(-time.Second))
	failed, werr, next, err := bc.exchange(2, [][]byte{[]byte("ra"), []byte("rb")})
	if !errors.Is(err, os.ErrDeadlineExceeded) || next != 0 {
		t.Fatalf("read: %d, %v; want 0, deadline exceeded", next, err)
	}
	if failed != 0 || werr != nil {
		t.Fatalf("write: %d failed, %v", failed, werr)
	}
	expectReplies(t, c, "ra", "rb")
}

// TestExchangeClosed: on a closed socket the replies count as failed.
func TestExchangeClosed(t *testing.T) {
	pc, bc, c := exchangeConn(t)
	sendAll(t, c, "a", "b")
	readN(t, bc, 2)
	pc.Close()
	failed, werr, _, err := bc.exchange(2, [][]byte{[]byte("ra"), []byte("rb")})
	if failed != 2 || !errors.Is(werr, net.ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("exchange = %d, %v, _, %v; want 2 failed, closed, closed", failed, werr, err)
	}
}
