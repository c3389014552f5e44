package multicast

// The report of a multicast test and how it is computed from the state.

import (
	"net/netip"
	"sort"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// Report is the outcome of RunTest.
type Report struct {
	// Group, Source and TTL are what was tested.
	Group  netip.AddrPort
	Source netip.Addr
	TTL    int
	// Joined is false for a participant started with NoJoin.
	Joined bool
	// Session is this participant's session.
	Session uint32
	// Sent is the number of counted probes of each kind sent.
	Sent int
	// Interfaces are the interfaces used.
	Interfaces []string
	// SendsGroup is false for a participant that does not send to the
	// group: one started with NoJoin, and, in a source-specific test,
	// every participant but the source (it only receives the group).
	SendsGroup bool
	// Ignored counts the counted probes (not hellos) that came through
	// the group from
	// sources that were not accepted (neither listed, discovered nor
	// introduced by unicast), and so were not answered; IgnoredSources
	// is how many distinct addresses sent them (counted up to 1024).
	Ignored        int
	IgnoredSources int
	// RateLimited counts the probes not answered because their source
	// exceeded its reply budget.
	RateLimited int
	// Unauthenticated counts, with keys, datagrams dropped because they
	// failed authentication; Replays those refused by the replay window.
	Unauthenticated, Replays uint64
	// Interrupted is true when ctx ended the test early.
	Interrupted bool
	// Duration is the length of the test.
	Duration time.Duration
	// Peers has one entry per listed peer and per peer that proved it
	// receives at its address (answered our probes, or echoed our cookie),
	// listed ones first: a forged source is never reported.
	Peers []PeerReport
}

// PeerReport is what one participant measured towards one peer.
type PeerReport struct {
	// Peer is the peer's unicast address.
	Peer netip.AddrPort
	// Listed is true for a peer given in TestConfig.Peers, false for one
	// found otherwise.
	Listed bool
	// Discovered is true for a peer added with Test.AddPeer.
	Discovered bool
	// Answered is true when the peer showed that it knows us: it sent us
	// a probe by unicast or answered one of ours.
	Answered bool
	// Interface is the local interface the peer's last datagram arrived
	// on ("" when the system does not tell).
	Interface string
	// Member says whether the peer joined the group, as its own packets
	// tell: "yes", "no" or "unknown" (nothing heard).
	Member string
	// Multicast and Unicast are the figures for each kind of probe.
	// Multicast is nil when neither this participant nor the peer sends
	// to the group (NoJoin, or two receivers of a source-specific test).
	// In a source-specific test a receiver sends nothing to the group:
	// its Multicast report on the source is ReceiveOnly.
	Multicast *KindReport
	Unicast   *KindReport
}

// KindReport holds the figures of one kind of probe towards one peer.
type KindReport struct {
	// Xmt is the number of our probes of this kind counted towards the
	// peer: every one sent from First to the end of the run (all of them
	// for a peer heard before the first probe), whether or not the peer
	// was still answering. Rcv is how many of them the peer received, as
	// its own counter says (the highest value in its replies; probes it
	// received after its last reply that came back are not known, so
	// they count as lost). Loss is the one-way loss from us to the peer
	// in percent: the headline figure, the back path does not count
	// except for the replies to the last probes. A peer that stops
	// answering halfway, or whose group traffic stops, shows that loss.
	Xmt  int
	Rcv  int
	Loss float64
	// First is the first of our sequence numbers counted (1 unless the
	// peer was first heard after the probes started; 0 when none were
	// sent).
	First int
	// Sent, Replies and RoundTripLoss count the replies that came back
	// (loss out and back, as omping reports it); Sent equals Xmt.
	Sent          int
	Replies       int
	RoundTripLoss float64
	// Duplicates and Reordered count duplicate and out-of-order replies.
	Duplicates int
	Reordered  int
	// RTTMin, RTTAvg, RTTMax and RTTStdDev summarize the round-trip times
	// (zero without replies).
	RTTMin    time.Duration
	RTTAvg    time.Duration
	RTTMax    time.Duration
	RTTStdDev time.Duration
	// TTLSent is the TTL our probes left with; TTLSeen the TTL they
	// arrived with at the peer (from its last reply; -1 unknown).
	TTLSent int
	TTLSeen int
	// From is what we received of the peer's own probes of this kind.
	From FlowReport
	// ReceiveOnly is set on the multicast report of a receiver of a
	// source-specific test, about the source: we sent nothing to the
	// group, only From counts.
	ReceiveOnly bool
}

// FlowReport counts the probes received from a peer (one-way, peer to us).
type FlowReport struct {
	// First is the first of the peer's sequence numbers counted: 1 when
	// we heard from the peer's session before (a hello, an answer to our
	// hello, or an earlier probe of the other kind), so a stream that
	// starts late counts its missing start as lost; otherwise the first
	// one received (we may have started after the peer, as asmping
	// counts "since the first packet").
	First int
	// Expected is the number of probes the peer sent from First to its
	// last (its planned count, announced in every probe, or the highest
	// seen when it runs until stopped).
	Expected int
	// Received counts distinct sequence numbers received.
	Received int
	// Loss is the one-way loss in percent.
	Loss float64
	// Duplicates and Reordered count repeated and late probes.
	Duplicates int
	Reordered  int
	// TTL is the TTL the last probe arrived with here (-1 unknown).
	TTL int
}

// Status values of PeerReport.Status.
const (
	StatusOK        = "ok"           // within the loss threshold
	StatusNoAnswer  = "no answer"    // nothing came back at all
	StatusNotJoined = "not joined"   // the peer says it is not a member
	StatusNoMcast   = "no multicast" // a member that received none of our group probes
	StatusNoUcast   = "no unicast"   // it received none of our unicast probes (or we could send it none)
	StatusLoss      = "loss"         // more loss than allowed
)

// Status judges the peer against maxLoss (percent): StatusOK when the
// multicast loss (the unicast loss when there is no multicast report; the
// loss of the source's group probes for a receiver of a source-specific
// test) is at most maxLoss; otherwise the reason. Unicast is the control
// of the test: a peer whose unicast path is dead in either direction is
// StatusNoUcast whatever its multicast figures (see unicastLost); partial
// unicast loss does not fail a peer that has multicast figures.
// Discovered peers are judged like listed ones.
func (p PeerReport) Status(maxLoss float64) string {
	if !p.Answered {
		return StatusNoAnswer
	}
	k := p.Multicast
	switch {
	case k != nil && p.Member == "no":
		return StatusNotJoined
	case p.unicastLost():
		return StatusNoUcast
	case k == nil:
		k = p.Unicast
	case k.ReceiveOnly: // SSM receiver: judge what came from the source
		if k.From.Received == 0 {
			return StatusNoMcast
		}
		if k.From.Loss > maxLoss {
			return StatusLoss
		}
		return StatusOK
	case k.Xmt > 0 && k.Rcv == 0:
		return StatusNoMcast
	}
	if k.Loss > maxLoss {
		return StatusLoss
	}
	return StatusOK
}

// PeersOK counts the peers whose Status is StatusOK.
func (r *Report) PeersOK(maxLoss float64) int {
	n := 0
	for _, p := range r.Peers {
		if p.Status(maxLoss) == StatusOK {
			n++
		}
	}
	return n
}

// unicastLost reports whether the unicast path to or from p is dead: p
// received none of the unicast probes counted towards it (or it never
// proved that it receives at its address, so none could be sent), or its
// group probes reached us but none of its unicast probes did (every
// participant probes by unicast the peers that answered it).
func (p PeerReport) unicastLost() bool {
	u := p.Unicast
	if u == nil {
		return false
	}
	if u.Xmt > 0 && u.Rcv == 0 {
		return true
	}
	return p.Multicast != nil && p.Multicast.From.Received > 0 && u.From.Received == 0
}

// OK reports whether every peer is StatusOK and there is at least one.
func (r *Report) OK(maxLoss float64) bool {
	if len(r.Peers) == 0 {
		return false
	}
	for _, p := range r.Peers {
		if p.Status(maxLoss) != StatusOK {
			return false
		}
	}
	return true
}

// reportable reports whether p belongs in the report: a listed peer, or
// one that proved it receives at its address (a discovered participant
// that answered our probes, an introducer that echoed our cookie). Any
// other source may be forged: one datagram must not add a failing peer.
func (p *peerState) reportable() bool {
	return p.listed && !p.discovered || p.proven
}

func (t *tester) report(interrupted bool) *Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	refused, replays := t.gate.Counts()
	r := &Report{
		Group: t.conn.Group(), Source: t.conn.Source(), TTL: t.conn.TTL(), Joined: t.conn.Joined(),
		Session: t.session, Sent: int(t.seq), Interrupted: interrupted, Duration: time.Since(t.start),
		SendsGroup: t.sendG, Ignored: t.ignored, IgnoredSources: len(t.ignSrc), RateLimited: t.limited,
		Unauthenticated: refused, Replays: replays,
	}
	for _, ifi := range t.conn.Interfaces() {
		r.Interfaces = append(r.Interfaces, ifi.Name)
	}
	for _, p := range t.peers {
		if !p.reportable() {
			continue
		}
		pr := PeerReport{Peer: p.addr, Listed: p.listed && !p.discovered, Discovered: p.discovered,
			Answered: p.heard, Interface: p.iface, Member: p.member}
		if t.sendG || t.mcast && p.addr.Addr().WithZone("") == t.conn.Source().WithZone("") {
			pr.Multicast = t.kindReport(p, wire.KindMulticast, t.conn.TTL())
		}
		pr.Unicast = t.kindReport(p, wire.KindUnicast, t.conn.UnicastTTL())
		r.Peers = append(r.Peers, pr)
	}
	sort.SliceStable(r.Peers, func(i, j int) bool { return r.Peers[i].Listed && !r.Peers[j].Listed })
	return r
}

func (t *tester) kindReport(p *peerState, k wire.Kind, ttl int) *KindReport {
	ks := &p.kinds[k]
	kr := &KindReport{TTLSent: ttl, TTLSeen: ks.ttlSeen}
	// Our probes towards p are counted from its base (the first sent
	// after p was heard; 1 for a peer heard before the first probe),
	// or from the lowest the peer says it received if that is earlier,
	// to the last one sent: a peer that stops answering halfway is not
	// covered up.
	low := uint32(1)
	if ks.base != 0 {
		low = ks.base
	}
	if ks.first != 0 && ks.first < low {
		low = ks.first
	}
	sent := int(t.seq) - int(low) + 1
	if k == wire.KindMulticast && !t.sendG {
		sent, kr.ReceiveOnly = 0, true
	}
	kr.Sent = max(sent, 0)
	if kr.Sent > 0 {
		kr.First = int(low)
	}
	kr.Replies = int(ks.replies.received)
	kr.Duplicates, kr.Reordered = ks.replies.dups, ks.replies.reordered
	// Replies to probes below base are not counted (see handleReply), so
	// the round trip is judged over the probes from base on.
	rtSent := kr.Sent
	if ks.base > low {
		rtSent = max(rtSent-int(ks.base-low), 0)
	}
	kr.RoundTripLoss = lossPercent(rtSent, kr.Replies)
	if ks.rtt.n > 0 {
		kr.RTTMin, kr.RTTMax = ks.rtt.min, ks.rtt.max
		kr.RTTAvg, kr.RTTStdDev = time.Duration(ks.rtt.mean), ks.rtt.stddev()
	}
	kr.Xmt = kr.Sent
	kr.Rcv = min(int(ks.received), kr.Xmt)
	kr.Loss = lossPercent(kr.Xmt, kr.Rcv)
	kr.From.TTL = ks.fromTTL
	if tr := ks.from[ks.fromLast]; tr != nil {
		// The peer's probes are counted from its seq 1 when we heard
		// its session before (a hello, or a probe of the other kind),
		// else from the first received (we may have started late), to
		// its planned count (or the highest seen).
		end := tr.highest
		if p.session == ks.fromLast && p.count > end {
			end = p.count
		}
		first := tr.first
		if l, ok := p.sessLow[ks.fromLast]; ok && l < first {
			first = max(l, 1)
		}
		kr.From.First = int(first)
		kr.From.Expected = int(end) - int(first) + 1
		kr.From.Received = int(tr.received)
		kr.From.Duplicates, kr.From.Reordered = tr.dups, tr.reordered
		kr.From.Loss = lossPercent(kr.From.Expected, kr.From.Received)
	}
	return kr
}
