package udpserver

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"

	"github.com/udpkit/udpkit/wire"
)

// flood sends n DATA with new IDs to s through process, each from the
// sender next returns, and returns the growth of the live heap in bytes.
func flood(s *Server, n int, next func(i int) netip.AddrPort) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p := newPacketFor(s, wire.AppendData(nil, 0, []byte("flood")), "192.0.2.1:1")
	reply := make([]byte, 0, 64)
	for i := range n {
		p.remote = next(i)
		wire.AppendData(p.buf[:0], uint64(i), []byte("flood"))
		s.process(context.Background(), p, reply)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

// forgedSender returns a random IPv4 sender: every datagram its own host.
func forgedSender(r *rand.Rand) func(int) netip.AddrPort {
	return func(int) netip.AddrPort {
		v := r.Uint64()
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}), uint16(v>>32))
	}
}

// TestDedupFloodMemory: a flood of new IDs from one sender takes its
// share and no more; a flood from forged senders fills the table to its
// documented size and no further; in both, the table keeps every entry
// and other senders' remembered messages are still answered.
func TestDedupFloodMemory(t *testing.T) {
	t.Run("one sender", func(t *testing.T) {
		s := &Server{}
		send(s, wire.AppendData(nil, 7, nil), "198.51.100.7:7000") // a quiet client
		one := netip.MustParseAddrPort("192.0.2.1:5000")
		grew := flood(s, 100000, func(int) netip.AddrPort { return one })
		st := s.Stats()
		if st.DedupEntries != DefaultDedupPerSource+1 || st.Busy != 100000-DefaultDedupPerSource || st.DedupOverShare != st.Busy {
			t.Errorf("stats %+v", st)
		}
		// The table grew by doubling to hold the share and the quiet
		// client's entry: 32768 entries' worth.
		want := 32768 * DedupBytesPerEntry
		if st.DedupBytes != want || grew > uint64(want)+1<<20 {
			t.Errorf("table holds %d bytes (want %d), heap grew %d", st.DedupBytes, want, grew)
		}
		t.Logf("one sender, 100000 new IDs: %d entries, %d busy, table %d bytes, heap +%d bytes", st.DedupEntries, st.Busy, st.DedupBytes, grew)
		if got := send(s, wire.AppendData(nil, 7, nil), "198.51.100.7:7000"); string(got) != string(wire.AppendAck(nil, 7)) || s.Stats().Duplicates != 1 {
			t.Errorf("the quiet client's retransmission: %x", got)
		}
		if got := send(s, wire.AppendData(nil, 8, nil), "198.51.100.7:7000"); string(got) != string(wire.AppendAck(nil, 8)) {
			t.Errorf("the quiet client's new message: %x, want an ACK", got)
		}
	})
	t.Run("forged senders", func(t *testing.T) {
		s := &Server{}
		send(s, wire.AppendData(nil, 7, nil), "198.51.100.7:7000")
		const n = DefaultDedupEntries + 50000
		grew := flood(s, n, forgedSender(rand.New(rand.NewPCG(1, 2))))
		st := s.Stats()
		if st.DedupEntries != DefaultDedupEntries || st.Busy != n+1-DefaultDedupEntries {
			t.Errorf("stats %+v", st)
		}
		want := DefaultDedupEntries * DedupBytesPerEntry
		if st.DedupBytes != want || grew > uint64(want)+4<<20 {
			t.Errorf("table holds %d bytes (want %d), heap grew %d", st.DedupBytes, want, grew)
		}
		t.Logf("%d forged senders: %d entries, %d busy, table %d bytes, heap +%d bytes", n, st.DedupEntries, st.Busy, st.DedupBytes, grew)
		if got := send(s, wire.AppendData(nil, 7, nil), "198.51.100.7:7000"); string(got) != string(wire.AppendAck(nil, 7)) {
			t.Errorf("the quiet client's retransmission: %x, want its ACK", got)
		}
	})
}

// BenchmarkDedupFlood floods process with b.N new IDs from forged senders
// (every datagram another IPv4 host) and reports the heap the server holds
// afterwards: run with -benchtime 3000000x for the figure in BENCHMARKS.md.
func BenchmarkDedupFlood(b *testing.B) {
	s := &Server{}
	r := forgedSender(rand.New(rand.NewPCG(3, 4)))
	b.ReportAllocs()
	grew := flood(s, b.N, r)
	st := s.Stats()
	b.ReportMetric(float64(grew)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(st.DedupBytes)/(1<<20), "table-MiB")
	b.ReportMetric(float64(st.DedupEntries), "entries")
}
