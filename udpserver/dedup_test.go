package udpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// counting returns a handler that counts its runs and refuses payloads
// that start with "no".
func counting(runs *atomic.Int64) Handler {
	return HandlerFunc(func(ctx context.Context, r *Request) error {
		runs.Add(1)
		if bytes.HasPrefix(r.Payload, []byte("no")) {
			return Reject(wire.CodeRejected, "refused: "+string(r.Payload))
		}
		return nil
	})
}

func send(s *Server, msg []byte, from string) []byte {
	return s.process(bg, newPacketFor(s, msg, from), make([]byte, 0, 2000))
}

func TestDedupRepeatsReply(t *testing.T) {
	var runs atomic.Int64
	s := &Server{Handler: counting(&runs)}
	data := wire.AppendData(nil, 1, []byte("yes"))
	first := send(s, data, "192.0.2.1:1000")
	again := send(s, data, "192.0.2.1:1000")
	if !bytes.Equal(first, wire.AppendAck(nil, 1)) || !bytes.Equal(again, first) {
		t.Errorf("replies %x then %x, want two ACKs", first, again)
	}
	refused := wire.AppendData(nil, 2, []byte("no thanks"))
	first = send(s, refused, "192.0.2.1:1000")
	again = send(s, refused, "192.0.2.1:1000")
	h, body := parseReply(t, again)
	if !bytes.Equal(first, again) || h.Type != wire.TypeNack || h.Code != wire.CodeRejected || string(body) != "refused: " { // cut to the 9 bytes of the body
		t.Errorf("replies %q then %q, want the same NACK twice", first, again)
	}
	if runs.Load() != 2 {
		t.Errorf("handler ran %d times, want 2", runs.Load())
	}
	// Same ID from another port or another host is another exchange.
	send(s, data, "192.0.2.1:1001")
	send(s, data, "192.0.2.2:1000")
	// An IPv4-mapped sender is the same sender.
	send(s, data, "[::ffff:192.0.2.1]:1000")
	if runs.Load() != 4 {
		t.Errorf("handler ran %d times, want 4", runs.Load())
	}
	if st := s.Stats(); st.Duplicates != 3 || st.Handled != 4 || st.DedupEntries != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestDedupInProgress(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int64
	s := &Server{Handler: HandlerFunc(func(ctx context.Context, r *Request) error {
		if runs.Add(1) == 1 {
			close(started)
			<-release
		}
		return nil
	})}
	data := wire.AppendData(nil, 5, []byte("slow"))
	first := make(chan []byte, 1)
	go func() { first <- send(s, data, "192.0.2.1:1000") }()
	select {
	case <-started:
	case <-time.After(waitTimeout):
		t.Fatal("handler did not start")
	}
	if got := send(s, data, "192.0.2.1:1000"); got != nil {
		t.Errorf("retransmission during the handler got %x, want silence", got)
	}
	close(release)
	select {
	case got := <-first:
		if !bytes.Equal(got, wire.AppendAck(nil, 5)) {
			t.Errorf("first reply %x", got)
		}
	case <-time.After(waitTimeout):
		t.Fatal("handler did not finish")
	}
	if got := send(s, data, "192.0.2.1:1000"); !bytes.Equal(got, wire.AppendAck(nil, 5)) {
		t.Errorf("retransmission after the handler got %x, want the ACK", got)
	}
	if st := s.Stats(); runs.Load() != 1 || st.InProgress != 1 || st.Duplicates != 1 {
		t.Errorf("runs %d, stats %+v", runs.Load(), st)
	}
}

// TestDedupWindow uses a fake clock: a retransmission after the client's
// longest back-off is still recognised, and the entry goes after the window.
func TestDedupWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int64
		s := &Server{Handler: counting(&runs)}
		data := wire.AppendData(nil, 9, []byte("x"))
		send(s, data, "192.0.2.1:1000")
		time.Sleep(100 * time.Second)
		send(s, data, "192.0.2.1:1000")
		if runs.Load() != 1 {
			t.Fatalf("retransmission after 100 s ran the handler again")
		}
		time.Sleep(20*time.Second + time.Nanosecond)
		send(s, data, "192.0.2.1:1000")
		if runs.Load() != 2 {
			t.Fatalf("message after the 120 s window was not handled again")
		}
		if st := s.Stats(); st.DedupExpired != 1 || st.DedupEntries != 1 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestDedupCaps(t *testing.T) {
	t.Run("table", func(t *testing.T) {
		var runs atomic.Int64
		s := &Server{Handler: counting(&runs), DedupEntries: 4}
		for i := range 5 {
			send(s, wire.AppendData(nil, uint64(i), nil), fmt.Sprintf("192.0.2.%d:1000", i))
		}
		if st := s.Stats(); st.DedupEntries != 4 || st.DedupEvicted != 1 {
			t.Errorf("stats %+v", st)
		}
		send(s, wire.AppendData(nil, 4, nil), "192.0.2.4:1000") // newest: remembered
		send(s, wire.AppendData(nil, 0, nil), "192.0.2.0:1000") // oldest: forgotten
		if runs.Load() != 6 {
			t.Errorf("handler ran %d times, want 6", runs.Load())
		}
	})
	t.Run("per source", func(t *testing.T) {
		var runs atomic.Int64
		s := &Server{Handler: counting(&runs), DedupEntries: 100, DedupPerSource: 3}
		send(s, wire.AppendData(nil, 1, nil), "192.0.2.9:1000") // a quiet client
		for i := range 10 {                                     // a flood from one host, many ports
			send(s, wire.AppendData(nil, uint64(i), nil), fmt.Sprintf("192.0.2.66:%d", 2000+i))
		}
		if st := s.Stats(); st.DedupEntries != 4 || st.DedupEvicted != 7 {
			t.Errorf("stats %+v", st)
		}
		n := runs.Load()
		send(s, wire.AppendData(nil, 1, nil), "192.0.2.9:1000")
		send(s, wire.AppendData(nil, 9, nil), "192.0.2.66:2009")
		if runs.Load() != n {
			t.Errorf("the quiet client's or the flood's newest entry was lost")
		}
	})
}

// TestDedupTableInvariants drives the table hard and checks its lists.
func TestDedupTableInvariants(t *testing.T) {
	tab := newDedupTable(50, 7, time.Second)
	now := int64(0)
	for i := range 5000 {
		now += int64(i%13) * int64(time.Millisecond)
		key := dedupKey{addr: netipAddrPort(i % 23), id: uint64(i % 311)}
		if st, _, _ := tab.begin(key, now); st == dedupNew && i%3 != 0 {
			tab.finish(key, wire.CodeNone, "")
		}
		if err := tab.check(); err != nil {
			t.Fatalf("after %d operations: %v", i, err)
		}
	}
}

func (t *dedupTable) check() error {
	n, last := 0, int64(-1)
	per := map[any]int32{}
	for i := t.head; i != nilIndex; i = t.entries[i].next {
		e := &t.entries[i]
		if e.at < last {
			return errors.New("age list out of order")
		}
		last = e.at
		if j, ok := t.index[e.key]; !ok || j != i {
			return errors.New("index does not point at entry")
		}
		per[e.key.addr.Addr()]++
		n++
	}
	if n != len(t.index) || n > t.max {
		return fmt.Errorf("list has %d entries, index %d, max %d", n, len(t.index), t.max)
	}
	for src, sl := range t.sources {
		if per[src] != sl.n || sl.n > t.perSource {
			return fmt.Errorf("source %v: list says %d, table has %d", src, sl.n, per[src])
		}
		m := int32(0)
		for i := sl.head; i != nilIndex; i = t.entries[i].snext {
			m++
		}
		if m != sl.n {
			return fmt.Errorf("source %v: list length %d, count %d", src, m, sl.n)
		}
	}
	return nil
}

// TestDedupNeverForgetsRunning: making room never evicts an exchange whose
// handler is still running (its retransmission would run the handler
// again); the new message is refused instead, until one finishes.
func TestDedupNeverForgetsRunning(t *testing.T) {
	for _, tc := range []struct {
		name            string
		max, perSource  int
		first, second   dedupKey
		third, finished dedupKey
	}{
		{"per source", 100, 2, dk(1, 1), dk(1, 2), dk(1, 3), dk(1, 1)},
		{"table", 2, 100, dk(1, 1), dk(2, 2), dk(3, 3), dk(1, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := newDedupTable(tc.max, tc.perSource, time.Minute)
			tab.begin(tc.first, 0)
			tab.begin(tc.second, 1)
			if st, _, _ := tab.begin(tc.third, 2); st != dedupFull {
				t.Fatalf("third exchange with two running: state %v, want dedupFull", st)
			}
			if st, _, _ := tab.begin(tc.first, 3); st != dedupRunning {
				t.Fatalf("the running exchange was forgotten: state %v", st)
			}
			tab.finish(tc.finished, wire.CodeNone, "")
			if st, _, _ := tab.begin(tc.third, 4); st != dedupNew {
				t.Fatalf("after one finished: state %v, want dedupNew", st)
			}
			if err := tab.check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func dk(host, id int) dedupKey { return dedupKey{addr: netipAddrPort(host), id: uint64(id)} }
