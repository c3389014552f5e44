package multicast

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// newTestTester is a tester without a socket, for feeding it datagrams.
func newTestTester(peers ...netip.AddrPort) *tester {
	t := &tester{
		cfg:      TestConfig{Count: 10, Interval: 10 * time.Millisecond},
		session:  0xaaaa0001,
		mcast:    true,
		sendG:    true,
		count:    10,
		byAddr:   make(map[netip.AddrPort]*peerState),
		bySess:   make(map[uint32]*peerState),
		peerDone: make(chan struct{}, 1),
		log:      slog.New(slog.DiscardHandler),
		start:    time.Now(),
	}
	for _, p := range peers {
		t.addPeer(p, true)
	}
	return t
}

// TestAccountingDupReorder feeds a peer's probes and replies with a
// duplicated and a reordered sequence number through the test's receive
// path and checks every figure of the report.
func TestAccountingDupReorder(t *testing.T) {
	peer := netip.MustParseAddrPort("198.18.0.11:9797")
	tt := newTestTester(peer)
	const peerSess = 0xbbbb0002
	// The peer's multicast probes: 1 2 2 4 3 5 (6..10 lost).
	var dups, reords int
	tt.cfg.OnEvent = func(e Event) {
		if e.Duplicate {
			dups++
		}
		if e.Reordered {
			reords++
		}
	}
	for _, seq := range []uint32{1, 2, 2, 4, 3, 5} {
		pr := Probe{Session: peerSess, Seq: seq, Kind: KindMulticast, Flags: FlagMember, Count: 10}
		r, ok := tt.onProbe(pr, Packet{Src: peer, Multicast: true, TTL: 1, N: ProbeLen})
		if !ok {
			t.Fatalf("probe %d from a listed peer not answered", seq)
		}
		if r.Seq != seq || r.Responder != tt.session {
			t.Errorf("reply %+v", r)
		}
	}
	if dups != 1 || reords != 1 {
		t.Errorf("events: %d duplicates, %d reordered, want 1 and 1", dups, reords)
	}
	// Our 10 multicast probes, answered 1 2 3 3 5 4 (6..10 lost), the
	// peer's counters saying it received 1..5 (ours 4 and 5 crossed).
	tt.send0(10)
	for _, seq := range []uint32{1, 2, 3, 3, 5, 4} {
		rcv := seq
		tt.onReply(Reply{Session: tt.session, Seq: seq, Kind: KindMulticast, Flags: FlagMember, Responder: peerSess,
			Received: rcv, First: 1, TTLSeen: 1, Time: tt.now()}, Packet{Src: peer, TTL: 64, Interface: "eth0"})
	}
	p := tt.byAddr[peerKey(peer)]
	k := tt.kindReport(p, KindMulticast, 1)
	if k.Duplicates != 1 || k.Reordered != 1 || k.Replies != 5 || k.Sent != 10 || k.RoundTripLoss != 50 {
		t.Errorf("replies: %+v", k)
	}
	if k.Xmt != 5 || k.Rcv != 5 || k.Loss != 0 {
		t.Errorf("one-way to the peer: xmt %d rcv %d loss %v, want 5/5/0", k.Xmt, k.Rcv, k.Loss)
	}
	if f := k.From; f.Expected != 10 || f.Received != 5 || f.Duplicates != 1 || f.Reordered != 1 || f.Loss != 50 {
		t.Errorf("from the peer: %+v", f)
	}
}

// send0 marks seq 1..n as sent without a socket.
func (t *tester) send0(n uint32) {
	for _, p := range t.peers {
		p.heard = true
		for _, k := range t.kinds() {
			if p.kinds[k].base == 0 {
				p.kinds[k].base = 1
			}
		}
	}
	t.seq = n
}

// TestAcceptRules checks whom a participant answers (PROTOCOL.md section
// 7): listed peers through the group and by unicast; an unknown source not
// through the group, but after it introduced itself by unicast; and no
// source beyond its reply budget.
func TestAcceptRules(t *testing.T) {
	listed := netip.MustParseAddrPort("198.18.0.11:9797")
	stranger := netip.MustParseAddrPort("198.18.0.66:9797")
	tt := newTestTester(listed)
	tt.cfg.Interval = time.Hour // no refill during the test
	probe := func(src netip.AddrPort, sess, seq uint32, group bool) bool {
		_, ok := tt.onProbe(Probe{Session: sess, Seq: seq, Kind: KindUnicast, Count: 10},
			Packet{Src: src, Multicast: group, N: ProbeLen})
		return ok
	}
	tests := []struct {
		name  string
		src   netip.AddrPort
		seq   uint32
		group bool
		want  bool
	}{
		{"listed through the group", listed, 1, true, true},
		{"stranger through the group", stranger, 1, true, false},
		{"stranger's group hello", stranger, 0, true, false},
		{"stranger introduces itself by unicast", stranger, 0, false, true},
		{"stranger through the group after that", stranger, 2, true, true},
	}
	for _, tc := range tests {
		sess := uint32(7)
		if tc.src == listed {
			sess = 8
		}
		if got := probe(tc.src, sess, tc.seq, tc.group); got != tc.want {
			t.Errorf("%s: answered %v, want %v", tc.name, got, tc.want)
		}
	}
	if tt.ignored != 1 || len(tt.ignSrc) != 1 {
		t.Errorf("ignored %d from %d sources, want 1 from 1", tt.ignored, len(tt.ignSrc))
	}
	// Budget: replyBurst minus what was used, then nothing until refilled.
	answered := 0
	for seq := uint32(3); seq < 100; seq++ {
		if probe(stranger, 7, seq, true) {
			answered++
		}
	}
	if answered > replyBurst || answered < replyBurst-4 || tt.limited == 0 {
		t.Errorf("burst of 97 probes: %d answered, %d limited; want at most %d answered", answered, tt.limited, replyBurst)
	}
	// The table of accepted sources is bounded.
	for i := range 2 * maxPeers {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 9797)
		probe(src, uint32(100+i), 0, false)
	}
	if len(tt.peers) != maxPeers {
		t.Errorf("%d peers tracked, want the bound %d", len(tt.peers), maxPeers)
	}
}
