package udpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
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
	if !bytes.Equal(first, again) || h.Type != wire.TypeNack || h.Code != wire.CodeRejected || string(body) != "" { // the reason does not fit the 9 bytes of the body: the code alone
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
	busy := func(t *testing.T, got []byte) {
		t.Helper()
		if h, _ := parseReply(t, got); h.Type != wire.TypeNack || h.Code != wire.CodeBusy {
			t.Errorf("reply %x, want NACK busy", got)
		}
	}
	t.Run("table", func(t *testing.T) {
		var runs atomic.Int64
		s := &Server{Handler: counting(&runs), DedupEntries: 4}
		for i := range 5 {
			got := send(s, wire.AppendData(nil, uint64(i), nil), fmt.Sprintf("192.0.2.%d:1000", i))
			if i == 4 {
				busy(t, got) // full: refused, nobody forgotten
			}
		}
		if st := s.Stats(); st.DedupEntries != 4 || st.Busy != 1 || st.DedupFull != 1 {
			t.Errorf("stats %+v", st)
		}
		for i := range 4 { // all four still remembered
			send(s, wire.AppendData(nil, uint64(i), nil), fmt.Sprintf("192.0.2.%d:1000", i))
		}
		if runs.Load() != 4 {
			t.Errorf("handler ran %d times, want 4", runs.Load())
		}
	})
	t.Run("per sender", func(t *testing.T) {
		var runs atomic.Int64
		s := &Server{Handler: counting(&runs), DedupEntries: 100, DedupPerSource: 3}
		send(s, wire.AppendData(nil, 1, nil), "192.0.2.9:1000") // a quiet client
		for i := range 10 {                                     // a flood from one sender
			got := send(s, wire.AppendData(nil, uint64(i), nil), "192.0.2.9:2000")
			if i >= 3 {
				busy(t, got)
			}
		}
		send(s, wire.AppendData(nil, 2, nil), "192.0.2.9:1000") // same host, other port: its own share
		if st := s.Stats(); st.DedupEntries != 5 || st.DedupOverShare != 7 || runs.Load() != 5 {
			t.Errorf("runs %d, stats %+v", runs.Load(), st)
		}
		n := runs.Load()
		for i := range 3 {
			send(s, wire.AppendData(nil, uint64(i), nil), "192.0.2.9:2000")
		}
		send(s, wire.AppendData(nil, 1, nil), "192.0.2.9:1000")
		if runs.Load() != n {
			t.Errorf("an entry was lost")
		}
	})
	t.Run("per host", func(t *testing.T) {
		var runs atomic.Int64
		s := &Server{Handler: counting(&runs), DedupEntries: 100, DedupPerHost: 4}
		send(s, wire.AppendData(nil, 1, nil), "192.0.2.9:1000") // a quiet client
		for i := range 10 {                                     // a flood from its host, many ports
			send(s, wire.AppendData(nil, uint64(i), nil), fmt.Sprintf("192.0.2.9:%d", 2000+i))
		}
		send(s, wire.AppendData(nil, 1, nil), "[2001:db8::1]:1000")
		send(s, wire.AppendData(nil, 1, nil), "[2001:db8::2]:1000") // same /64: same host
		send(s, wire.AppendData(nil, 1, nil), "192.0.2.10:1000")    // another host
		if st := s.Stats(); st.DedupEntries != 7 || st.DedupOverHost != 7 || runs.Load() != 7 {
			t.Errorf("runs %d, stats %+v", runs.Load(), st)
		}
		n := runs.Load()
		send(s, wire.AppendData(nil, 1, nil), "192.0.2.9:1000")
		if runs.Load() != n {
			t.Errorf("the quiet client's entry was lost")
		}
	})
}

// TestDedupTableInvariants drives the table hard and checks its structure.
func TestDedupTableInvariants(t *testing.T) {
	tab := newDedupTable(50, 7, 20, time.Second)
	now := int64(0)
	for i := range 5000 {
		now += int64(i%13) * int64(time.Millisecond)
		key := dk(i%23, i%311)
		if st, _, _ := tab.begin(key, now, i%5 == 0); st == dedupNew && i%3 != 0 {
			tab.finish(key, wire.CodeNone, "")
		}
		if err := tab.check(); err != nil {
			t.Fatalf("after %d operations: %v", i, err)
		}
	}
}

// check verifies the ring, the index and the counts against each other.
func (t *dedupTable) check() error {
	if t.n > t.max || t.n > len(t.ring) {
		return fmt.Errorf("%d entries, max %d, ring %d", t.n, t.max, len(t.ring))
	}
	last := int64(-1 << 62)
	per := map[uint64]uint32{}
	for i := range t.n {
		p := (t.head + i) % len(t.ring)
		e := &t.ring[p]
		if e.at < last {
			return errors.New("ring out of arrival order")
		}
		last = e.at
		k := dedupKey{addr: e.addr, port: e.port, id: e.id}
		if _, q := t.find(&k, t.hash(&k)); q != p {
			return fmt.Errorf("index finds entry %d at %d", p, q)
		}
		sfp, hfp := t.fingerprints(&e.addr, e.port, e.proved)
		per[sfp]++
		per[hfp]++
	}
	used := 0
	for _, v := range t.index {
		if v != 0 {
			used++
		}
	}
	if used != t.n {
		return fmt.Errorf("index holds %d slots for %d entries", used, t.n)
	}
	slots := 0
	for _, s := range t.srcs {
		if s.fp == 0 {
			continue
		}
		slots++
		if per[s.fp] != s.n || t.count(s.fp) != s.n {
			return fmt.Errorf("fingerprint %x: counted %d, has %d entries", s.fp, s.n, per[s.fp])
		}
	}
	if slots != len(per) {
		return fmt.Errorf("%d counting slots for %d senders and hosts", slots, len(per))
	}
	return nil
}

// TestDedupNeverForgets: a full table or share refuses the new message
// and keeps every remembered exchange, running or done; a claimed share
// refuses an unproved sender with dedupUnproved (the server may ask for a
// cookie), a proved share or the table with dedupFull.
func TestDedupNeverForgets(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		max, perPort, perHost int
		first, second, third  dedupKey
		proved                bool
		want                  dedupState
	}{
		{"per sender", 100, 2, 100, dk(1, 1), dk(1, 2), dk(1, 3), false, dedupUnproved},
		{"per host", 100, 100, 2, dk(1, 1), dkp(1, 7, 2), dkp(1, 8, 3), false, dedupUnproved},
		{"table", 2, 100, 100, dk(1, 1), dk(2, 2), dk(3, 3), false, dedupFull},
		{"proved per sender", 100, 2, 100, dk(1, 1), dk(1, 2), dk(1, 3), true, dedupFull},
		{"proved per host", 100, 100, 2, dk(1, 1), dkp(1, 7, 2), dkp(1, 8, 3), true, dedupFull},
		{"proved table", 2, 100, 100, dk(1, 1), dk(2, 2), dk(3, 3), true, dedupFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := newDedupTable(tc.max, tc.perPort, tc.perHost, time.Minute)
			tab.begin(tc.first, 0, tc.proved)
			tab.begin(tc.second, 1, tc.proved)
			tab.finish(tc.second, wire.CodeNone, "")
			if st, _, _ := tab.begin(tc.third, 2, tc.proved); st != tc.want {
				t.Fatalf("third exchange: state %v, want %v", st, tc.want)
			}
			if st, _, _ := tab.begin(tc.first, 3, tc.proved); st != dedupRunning {
				t.Fatalf("the running exchange was forgotten: state %v", st)
			}
			if st, _, _ := tab.begin(tc.second, 3, tc.proved); st != dedupDone {
				t.Fatalf("the done exchange was forgotten: state %v", st)
			}
			if st, _, _ := tab.begin(tc.third, int64(time.Minute), tc.proved); st != dedupNew {
				t.Fatalf("after the window: state %v, want dedupNew", st)
			}
			if err := tab.check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDedupProvedShares: the proved and claimed shares of one sender and
// host are counted apart, each up to its limit; both count toward the
// table's cap; an exchange keeps the kind its first copy had (a later
// copy with or without a cookie is the same exchange); expiry returns each
// entry to the share it was taken from.
func TestDedupProvedShares(t *testing.T) {
	const window = int64(time.Minute)
	tab := newDedupTable(10, 3, 4, time.Minute)
	forged := func(port uint16, id int) dedupKey { return dkp(1, port, id) }
	// Claimed host share (4) filled by "forgeries" from other ports.
	for i := range 4 {
		if st, _, _ := tab.begin(forged(uint16(2000+i), i), 0, false); st != dedupNew {
			t.Fatalf("forgery %d: %v", i, st)
		}
	}
	victim := func(id int) dedupKey { return dkp(1, 1000, id) }
	if st, _, r := tab.begin(victim(100), 1, false); st != dedupUnproved || r != wire.ReasonHostShareFull {
		t.Fatalf("victim unproved: %v %q, want dedupUnproved, host share full", st, r)
	}
	// Proved: its own sender share (3), then refused with busy.
	for i := range 3 {
		if st, _, _ := tab.begin(victim(100+i), 2, true); st != dedupNew {
			t.Fatalf("victim proved %d: %v", i, st)
		}
		tab.finish(victim(100+i), wire.CodeNone, "")
	}
	if st, _, r := tab.begin(victim(103), 3, true); st != dedupFull || r != wire.ReasonSenderShareFull {
		t.Fatalf("victim over its proved share: %v %q", st, r)
	}
	// A retransmission without the cookie is the same exchange.
	if st, code, _ := tab.begin(victim(100), 4, false); st != dedupDone || code != wire.CodeNone {
		t.Fatalf("victim's retransmission without its cookie: %v %v", st, code)
	}
	// Another proved port of the host: the proved host share has 1 left.
	if st, _, _ := tab.begin(dkp(1, 1001, 1), 5, true); st != dedupNew {
		t.Fatalf("second proved port: %v", st)
	}
	if st, _, r := tab.begin(dkp(1, 1002, 1), 5, true); st != dedupFull || r != wire.ReasonHostShareFull {
		t.Fatalf("proved host share: %v %q", st, r)
	}
	// The table's cap (10) counts both kinds: 8 held, 2 more from others.
	for i := range 2 {
		if st, _, _ := tab.begin(dk(2+i, 1), 6, i == 0); st != dedupNew {
			t.Fatalf("other host %d: %v", i, st)
		}
	}
	for _, proved := range []bool{false, true} {
		if st, _, r := tab.begin(dk(9, 1), 7, proved); st != dedupFull || r != wire.ReasonTableFull {
			t.Fatalf("full table, proved %v: %v %q", proved, st, r)
		}
	}
	if err := tab.check(); err != nil {
		t.Fatal(err)
	}
	// After the window every share is empty again.
	tab.expire(7 + window)
	if tab.n != 0 || len(tab.srcs) != 0 && slices.ContainsFunc(tab.srcs, func(s srcSlot) bool { return s.fp != 0 }) {
		t.Fatalf("after the window: %d entries, counting slots %v", tab.n, tab.srcs)
	}
}

func dk(host, id int) dedupKey { return makeDedupKey(netipAddrPort(host), uint64(id)) }

// dkp is the key of message id from port of host.
func dkp(host int, port uint16, id int) dedupKey {
	return makeDedupKey(netip.AddrPortFrom(netipAddrPort(host).Addr(), port), uint64(id))
}
