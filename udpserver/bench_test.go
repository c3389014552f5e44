package udpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

var benchPayload = make([]byte, 32)

func appendBenchData(dst []byte, id uint64) []byte { return wire.AppendData(dst, id, benchPayload) }

func appendBenchPing(dst []byte, id uint64) []byte {
	return wire.Append(dst, wire.Header{Type: wire.TypePing, ID: id}, benchPayload)
}

// closedLoop sends b.N requests from one connected client socket, keeping
// inflight of them outstanding: each reply releases the next request.
func closedLoop(b *testing.B, c *net.UDPConn, inflight int, mk func([]byte, uint64) []byte) {
	msg := make([]byte, 0, 128)
	rbuf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(5 * time.Minute))
	id, sent := uint64(1)<<40, 0
	b.ReportAllocs()
	b.ResetTimer()
	for ; sent < min(inflight, b.N); sent++ {
		id++
		if _, err := c.Write(mk(msg[:0], id)); err != nil {
			b.Fatal(err)
		}
	}
	for range b.N {
		if _, err := c.Read(rbuf); err != nil {
			b.Fatalf("read (a datagram lost?): %v", err)
		}
		if sent < b.N {
			id++
			sent++
			if _, err := c.Write(mk(msg[:0], id)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
}

// BenchmarkServe measures whole exchanges over real loopback sockets:
// client write, server read, process, server write, client read.
func BenchmarkServe(b *testing.B) {
	for _, tc := range []struct {
		name     string
		bind, to string
		batch    int // Server.BatchSize
		mk       func([]byte, uint64) []byte
		measure  bool // Server.MeasureHandlers, as with udpserver --metrics
		sockets  int  // Server.Sockets: 2 with the quarantine's flood detector
	}{
		{"data-ack", "127.0.0.1:0", "127.0.0.1", 0, appendBenchData, false, 0},
		{"data-ack-nobatch", "127.0.0.1:0", "127.0.0.1", 1, appendBenchData, false, 0},
		{"data-ack-measure", "127.0.0.1:0", "127.0.0.1", 0, appendBenchData, true, 0},
		{"ping-pong", "127.0.0.1:0", "127.0.0.1", 0, appendBenchPing, false, 0},
		{"data-ack-wildcard-pktinfo", "0.0.0.0:0", "127.0.0.1", 0, appendBenchData, false, 0},
		{"data-ack-wildcard-pktinfo-nobatch", "0.0.0.0:0", "127.0.0.1", 1, appendBenchData, false, 0},
		{"data-ack-sockets2", "127.0.0.1:0", "127.0.0.1", 0, appendBenchData, false, 2},
		{"data-ack-sockets2-noquarantine", "127.0.0.1:0", "127.0.0.1", 0, appendBenchData, false, 2},
	} {
		for _, inflight := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/inflight=%d", tc.name, inflight), func(b *testing.B) {
				// Every DATA has a new ID; a 100 ms window keeps the table in
				// its steady state (one entry expires per insert, ~30k live)
				// instead of filling it and answering NACK busy.
				s := &Server{BatchSize: tc.batch, Sockets: tc.sockets, DisableQuarantine: strings.HasSuffix(tc.name, "-noquarantine"), MeasureHandlers: tc.measure, DedupWindow: 100 * time.Millisecond, DedupPerSource: 1 << 18,
					Handler: HandlerFunc(func(ctx context.Context, r *Request) error { return nil })}
				pc, err := net.ListenPacket("udp4", tc.bind)
				if err != nil {
					b.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- s.Serve(pc) }()
				port := pc.LocalAddr().(*net.UDPAddr).AddrPort().Port()
				c := dial(b, "udp4", netip.AddrPortFrom(netip.MustParseAddr(tc.to), port))
				closedLoop(b, c, inflight, tc.mk)
				s.Close()
				if err := <-done; !errors.Is(err, ErrServerClosed) {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkBaselineReadFromUDP is the floor: a plain ReadFromUDP /
// WriteToUDP loop that answers every datagram with a 16-byte ACK, no
// parsing, no de-duplication, no handler.
func BenchmarkBaselineReadFromUDP(b *testing.B) {
	for _, inflight := range []int{1, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 2048)
				ack := wire.AppendAck(nil, 1)
				for {
					n, addr, err := pc.ReadFromUDP(buf)
					if err != nil {
						return
					}
					copy(ack[8:], buf[8:min(n, 16)])
					pc.WriteToUDP(ack, addr)
				}
			}()
			c := dial(b, "udp4", pc.LocalAddr().(*net.UDPAddr).AddrPort())
			closedLoop(b, c, inflight, appendBenchData)
			pc.Close()
			<-done
		})
	}
}

// BenchmarkProcess measures the protocol logic alone, without sockets.
// BenchmarkProcess is the protocol's cost per datagram as the serve loop
// pays it: one worker, whose counters and clock are published and read once
// per batch of benchBatch datagrams (Server.process, for tests, does both per
// call, which costs more than a PING's whole processing).
func BenchmarkProcess(b *testing.B) {
	// A new ID per DATA: the 10 ms window keeps the table in its steady
	// state (tens of thousands live, one expiring per insert).
	s := &Server{DedupWindow: 10 * time.Millisecond, DedupPerSource: 1 << 18,
		Handler: HandlerFunc(func(ctx context.Context, r *Request) error { return nil })}
	reply := make([]byte, 0, 2048)
	b.Run("data-ack", func(b *testing.B) {
		p := newPacketFor(s, appendBenchData(nil, 0), "192.0.2.1:4000")
		bw := newBatchWorker(s)
		defer bw.done()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			appendBenchData(p.buf[:0], uint64(i)) // a new ID each time: a handler run and a table insert
			bw.process(bg, p, reply)
		}
	})
	b.Run("data-ack-measure", func(b *testing.B) {
		s := &Server{MeasureHandlers: true, Handler: s.Handler}
		p := newPacketFor(s, appendBenchData(nil, 0), "192.0.2.1:4000")
		bw := newBatchWorker(s)
		defer bw.done()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			appendBenchData(p.buf[:0], uint64(i))
			bw.process(bg, p, reply)
		}
	})
	b.Run("data-duplicate", func(b *testing.B) {
		p := newPacketFor(s, appendBenchData(nil, 1<<60), "192.0.2.1:4000")
		s.process(bg, p, reply)
		bw := newBatchWorker(s)
		defer bw.done()
		b.ReportAllocs()
		for b.Loop() {
			bw.process(bg, p, reply)
		}
	})
	b.Run("ping-pong", func(b *testing.B) {
		p := newPacketFor(s, appendBenchPing(nil, 1), "192.0.2.1:4000")
		bw := newBatchWorker(s)
		defer bw.done()
		b.ReportAllocs()
		for b.Loop() {
			bw.process(bg, p, reply)
		}
	})
}

// BenchmarkMeasureCost is what MeasureHandlers adds to a handled datagram:
// two clock reads and one observation into the worker's tally (published
// with the batch's other counts). Compare it with the ~3 µs of a whole
// exchange (BenchmarkServe) rather than with BenchmarkProcess, whose
// figures a loaded machine blurs by more than this.
func BenchmarkMeasureCost(b *testing.B) {
	s := &Server{}
	s.init()
	w := newWorker(s)
	for b.Loop() {
		start := s.now()
		w.stats.handlerTime.observe(s.now() - start)
	}
	w.done()
}

// benchBatch is the datagrams per batch in BenchmarkProcess, the serve
// loop's batch size when busy.
const benchBatch = 64

// batchWorker processes datagrams as one worker of the serve loop does.
type batchWorker struct {
	w *worker
	n int
}

func newBatchWorker(s *Server) *batchWorker {
	s.init()
	return &batchWorker{w: newWorker(s)}
}

func (bw *batchWorker) process(ctx context.Context, p *packet, reply []byte) []byte {
	out := bw.w.process(ctx, p, reply)
	if bw.n++; bw.n == benchBatch {
		bw.done()
	}
	return out
}

func (bw *batchWorker) done() { bw.w.done(); bw.n = 0 }
