package multicast

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
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
		pr := wire.Probe{Session: peerSess, Seq: seq, Kind: wire.KindMulticast, Flags: wire.ProbeMember, Count: 10}
		r, _, ok := tt.onProbe(pr, Packet{Src: peer, Multicast: true, TTL: 1, N: wire.ProbeLen})
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
		tt.onReply(wire.Reply{Session: tt.session, Seq: seq, Kind: wire.KindMulticast, Flags: wire.ProbeMember, Responder: peerSess,
			Received: rcv, First: 1, TTLSeen: 1, Time: tt.now()}, Packet{Src: peer, TTL: 64, Interface: "eth0"})
	}
	p := tt.byAddr[peerKey(peer)]
	k := tt.kindReport(p, wire.KindMulticast, 1)
	if k.Duplicates != 1 || k.Reordered != 1 || k.Replies != 5 || k.Sent != 10 || k.RoundTripLoss != 50 {
		t.Errorf("replies: %+v", k)
	}
	// The peer answered nothing after 5: all 10 count, 5 of them lost.
	if k.Xmt != 10 || k.Rcv != 5 || k.Loss != 50 || k.First != 1 {
		t.Errorf("one-way to the peer: xmt %d rcv %d loss %v first %d, want 10/5/50 from 1", k.Xmt, k.Rcv, k.Loss, k.First)
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
		_, _, ok := tt.onProbe(wire.Probe{Session: sess, Seq: seq, Kind: wire.KindUnicast, Count: 10},
			Packet{Src: src, Multicast: group, N: wire.ProbeLen})
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

// TestAccountingHonest runs the cases where the old accounting hid loss
// (it counted our probes only up to the last one the peer answered) and
// where the "from peer" figures missed a late start, through the receive
// path, with count 50.
func TestAccountingHonest(t *testing.T) {
	peer := netip.MustParseAddrPort("198.18.0.11:9797")
	const peerSess = 0xbbbb0002
	type reply struct {
		kind     wire.Kind
		from, to uint32 // our seqs the peer answered (received counts them)
	}
	tests := []struct {
		name       string
		base       uint32 // first of our probes counted towards the peer
		hello      bool   // the peer's hello came before its probes
		replies    []reply
		probes     map[wire.Kind][2]uint32 // the peer's probes that arrived, from..to
		mx, mr     int                     // multicast xmt/rcv
		ux, ur     int                     // unicast xmt/rcv
		fromM      [2]int                  // from peer, multicast: expected, received
		status     string
		firstCount int
	}{
		{name: "healthy", base: 1, hello: true,
			replies: []reply{{wire.KindMulticast, 1, 50}, {wire.KindUnicast, 1, 50}},
			probes:  map[wire.Kind][2]uint32{wire.KindMulticast: {1, 50}, wire.KindUnicast: {1, 50}},
			mx:      50, mr: 50, ux: 50, ur: 50, fromM: [2]int{50, 50}, status: StatusOK, firstCount: 1},
		{name: "group blocked after 26 (IGMP snooping timeout)", base: 1, hello: true,
			replies: []reply{{wire.KindMulticast, 1, 26}, {wire.KindUnicast, 1, 50}},
			probes:  map[wire.Kind][2]uint32{wire.KindMulticast: {1, 26}, wire.KindUnicast: {1, 50}},
			mx:      50, mr: 26, ux: 50, ur: 50, fromM: [2]int{50, 26}, status: StatusLoss, firstCount: 1},
		{name: "peer killed after 20", base: 1, hello: true,
			replies: []reply{{wire.KindMulticast, 1, 20}, {wire.KindUnicast, 1, 20}},
			probes:  map[wire.Kind][2]uint32{wire.KindMulticast: {1, 20}, wire.KindUnicast: {1, 20}},
			mx:      50, mr: 20, ux: 50, ur: 20, fromM: [2]int{50, 20}, status: StatusLoss, firstCount: 1},
		{name: "group blocked for the first 14", base: 1, hello: true,
			replies: []reply{{wire.KindMulticast, 15, 50}, {wire.KindUnicast, 1, 50}},
			probes:  map[wire.Kind][2]uint32{wire.KindMulticast: {15, 50}, wire.KindUnicast: {1, 50}},
			mx:      50, mr: 36, ux: 50, ur: 50, fromM: [2]int{50, 36}, status: StatusLoss, firstCount: 1},
		{name: "we started after the peer's probe 20", base: 21,
			replies: []reply{{wire.KindMulticast, 21, 50}, {wire.KindUnicast, 21, 50}},
			probes:  map[wire.Kind][2]uint32{wire.KindMulticast: {20, 50}, wire.KindUnicast: {20, 50}},
			mx:      30, mr: 30, ux: 30, ur: 30, fromM: [2]int{31, 31}, status: StatusOK, firstCount: 21},
		{name: "nothing came back", base: 0,
			mx: 50, mr: 0, ux: 50, ur: 0, status: StatusNoAnswer, firstCount: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tt := newTestTester(peer)
			tt.count, tt.cfg.Count = 50, 50
			p := tt.byAddr[peerKey(peer)]
			if tc.hello {
				tt.onProbe(wire.Probe{Session: peerSess, Kind: wire.KindUnicast, Flags: wire.ProbeMember, Count: 50},
					Packet{Src: peer, N: wire.ProbeLen})
			}
			for _, k := range []wire.Kind{wire.KindUnicast, wire.KindMulticast} { // unicast first: the group may be late
				if r, ok := tc.probes[k]; ok {
					for seq := r[0]; seq <= r[1]; seq++ {
						tt.onProbe(wire.Probe{Session: peerSess, Seq: seq, Kind: k, Flags: wire.ProbeMember, Count: 50},
							Packet{Src: peer, Multicast: k == wire.KindMulticast, N: wire.ProbeLen})
					}
				}
			}
			if tc.base != 0 {
				p.heard = true
				p.kinds[wire.KindMulticast].base, p.kinds[wire.KindUnicast].base = tc.base, tc.base
			}
			tt.seq = 50
			for _, r := range tc.replies {
				for seq := r.from; seq <= r.to; seq++ {
					tt.onReply(wire.Reply{Session: tt.session, Seq: seq, Kind: r.kind, Flags: wire.ProbeMember, Responder: peerSess,
						Received: seq - r.from + 1, First: r.from, Time: tt.now()}, Packet{Src: peer})
				}
			}
			m, u := tt.kindReport(p, wire.KindMulticast, 1), tt.kindReport(p, wire.KindUnicast, 64)
			pr := PeerReport{Peer: peer, Answered: p.heard, Member: p.member, Multicast: m, Unicast: u}
			if m.Xmt != tc.mx || m.Rcv != tc.mr || u.Xmt != tc.ux || u.Rcv != tc.ur || m.First != tc.firstCount {
				t.Errorf("multicast %d/%d (from seq %d), unicast %d/%d; want %d/%d (from %d), %d/%d",
					m.Xmt, m.Rcv, m.First, u.Xmt, u.Rcv, tc.mx, tc.mr, tc.firstCount, tc.ux, tc.ur)
			}
			if m.From.Expected != tc.fromM[0] || m.From.Received != tc.fromM[1] {
				t.Errorf("from peer, multicast %d/%d, want %d/%d", m.From.Expected, m.From.Received, tc.fromM[0], tc.fromM[1])
			}
			if st := pr.Status(5); st != tc.status {
				t.Errorf("status %q, want %q", st, tc.status)
			}
		})
	}
}

// TestAcceptBySession: a peer listed (or discovered) by a global IPv6
// address sends to a link-local group from its fe80:: address. Its group
// probes are matched by the session its unicast hello introduced and
// answered at the known address, never at the probe's source; an unknown
// session through the group is still ignored.
func TestAcceptBySession(t *testing.T) {
	listed := netip.MustParseAddrPort("[fd18::11]:9797")
	ll := netip.MustParseAddrPort("[fe80::11%eth0]:9797")
	tt := newTestTester(listed)
	const sess = 0xbbbb0002
	probe := func(src netip.AddrPort, sess, seq uint32, group bool) (netip.AddrPort, bool) {
		_, dst, ok := tt.onProbe(wire.Probe{Session: sess, Seq: seq, Kind: wire.KindMulticast, Flags: wire.ProbeMember, Count: 10},
			Packet{Src: src, Multicast: group, N: wire.ProbeLen})
		return dst, ok
	}
	if _, ok := probe(ll, sess, 1, true); ok {
		t.Error("group probe with a session not known yet answered")
	}
	if dst, ok := probe(listed, sess, 0, false); !ok || dst != listed {
		t.Errorf("unicast hello: answered %v at %v", ok, dst)
	}
	for seq := uint32(2); seq <= 10; seq++ {
		if dst, ok := probe(ll, sess, seq, true); !ok || dst != listed {
			t.Fatalf("group probe %d from %v: answered %v at %v, want at %v", seq, ll, ok, dst, listed)
		}
	}
	if _, ok := probe(netip.MustParseAddrPort("[fe80::99%eth0]:9797"), 0x99, 3, true); ok {
		t.Error("group probe from an unknown session answered")
	}
	if len(tt.peers) != 1 {
		t.Errorf("%d peers, want 1 (one participant, two addresses)", len(tt.peers))
	}
	p := tt.peers[0]
	if f := tt.kindReport(p, wire.KindMulticast, 1).From; f.Received != 9 || f.Expected != 10 {
		t.Errorf("from peer: %+v, want 9 of 10", f)
	}
	// A unicast probe from the peer's other address (same session) is
	// answered there, and does not make a second peer.
	if _, dst, ok := tt.onProbe(wire.Probe{Session: sess, Seq: 5, Kind: wire.KindUnicast, Count: 10},
		Packet{Src: ll, N: wire.ProbeLen}); !ok || dst != netip.AddrPortFrom(ll.Addr(), ll.Port()) || len(tt.peers) != 1 {
		t.Errorf("unicast from the other address: answered %v at %v, %d peers", ok, dst, len(tt.peers))
	}
}

// TestLingerWaitsForBothKinds: the last group probe of a peer arrived but
// not its last unicast probe: we must keep answering (the old rule, any
// kind's last seq, left the unicast one unanswered under load).
func TestLingerWaitsForBothKinds(t *testing.T) {
	peer := netip.MustParseAddrPort("198.18.0.11:9797")
	tt := newTestTester(peer)
	tt.cfg.Linger = time.Hour
	const sess = 0xbbbb0002
	send := func(k wire.Kind, seq uint32) {
		tt.onProbe(wire.Probe{Session: sess, Seq: seq, Kind: k, Flags: wire.ProbeMember, Count: 10},
			Packet{Src: peer, Multicast: k == wire.KindMulticast, N: wire.ProbeLen})
	}
	for seq := uint32(1); seq <= 9; seq++ {
		send(wire.KindMulticast, seq)
		send(wire.KindUnicast, seq)
	}
	send(wire.KindMulticast, 10)
	p := tt.peers[0]
	if tt.peerFinished(p, time.Now()) {
		t.Error("finished before the last unicast probe")
	}
	send(wire.KindUnicast, 10)
	if !tt.peerFinished(p, time.Now()) {
		t.Error("not finished after both last probes")
	}
	if !tt.peerFinished(p, time.Now().Add(2*time.Hour)) {
		t.Error("not finished after Linger of silence")
	}
}

// TestRoundTripFromBase: the peer got our probes from seq 10 on, but we
// heard it only at 21 (base), so replies below 21 are not counted: the
// round trip must be judged over 21..50, where every reply came back.
func TestRoundTripFromBase(t *testing.T) {
	peer := netip.MustParseAddrPort("198.18.0.11:9797")
	tt := newTestTester(peer)
	tt.count, tt.cfg.Count = 50, 50
	p := tt.byAddr[peerKey(peer)]
	p.heard = true
	p.kinds[wire.KindUnicast].base = 21
	tt.seq = 50
	for seq := uint32(10); seq <= 50; seq++ {
		tt.onReply(wire.Reply{Session: tt.session, Seq: seq, Kind: wire.KindUnicast, Flags: wire.ProbeMember, Responder: 0xbbbb0002,
			Received: seq - 9, First: 10, Time: tt.now()}, Packet{Src: peer})
	}
	u := tt.kindReport(p, wire.KindUnicast, 64)
	if u.RoundTripLoss != 0 || u.Replies != 30 {
		t.Errorf("round trip: %d replies, %.1f%% loss; want 30 and 0%% (probes 21..50)", u.Replies, u.RoundTripLoss)
	}
}
