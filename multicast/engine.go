package multicast

// The probing engine: the state of a test, its phases (handshake, probes,
// linger) and the probes it sends.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

// kindState is what we know of one kind of probe towards one peer.
type kindState struct {
	base     uint32 // first of our seqs sent after the peer was heard; 0 none yet
	replies  seqTracker
	rtt      rttStats
	lastSeq  uint32 // highest seq replied to
	received uint32 // the peer's counter of our probes: the highest reported
	first    uint32 // the lowest of our seqs the peer says it received
	ttlSeen  int
	// from the peer's probes of this kind
	from     map[uint32]*seqTracker // by sender session
	fromTTL  int
	fromLast uint32    // session of the last probe
	fromSeen time.Time // when the last probe of this kind came
}

type peerState struct {
	addr       netip.AddrPort
	listed     bool
	discovered bool
	heard      bool // it knows us: a unicast probe or a reply came from it
	// proven: it receives at its address (it answered one of our probes,
	// or echoed the cookie we sent it). Only listed peers and proven ones
	// are probed: anything else could be a forged source (reflection).
	proven bool
	hellos int    // hellos sent to it while it was a discovered, unproven peer
	cookie uint32 // the cookie it gave us (in the reply to our hello), echoed in our probes
	// echoed: a hello carried cookie to it. During the start-up handshake
	// a peer that gave us a cookie gets one hello echoing it, so that it
	// may probe us before our first counted probe (when it found us only
	// by our hello, not by discovery or a list).
	echoed   bool
	iface    string
	tokens   float64   // reply budget
	refilled time.Time // when tokens was last refilled
	member   string
	session  uint32
	count    uint32 // the peer's planned count
	lastHigh uint32 // highest seq of any kind from the peer
	lastSeen time.Time
	kinds    [3]kindState // by wire.Kind
	// sessLow is, per sender session, the lowest seq of anything
	// received from it (0: a hello, or a reply to our hello): a session
	// heard before its first counted probe is counted from seq 1.
	sessLow map[uint32]uint32
}

// tester is one running test.
type tester struct {
	cfg     TestConfig
	conn    *Conn
	log     *slog.Logger
	start   time.Time
	session uint32
	flags   wire.ProbeFlags
	mcast   bool   // joined: reports multicast figures
	sendG   bool   // sends to the group (not NoJoin; SSM: only the source)
	count   uint32 // 0 = unbounded

	mu       sync.Mutex
	peers    []*peerState
	byAddr   map[netip.AddrPort]*peerState
	bySess   map[uint32]*peerState
	seq      uint32 // last counted seq sent
	buf      []byte
	peerDone chan struct{} // signalled when something arrives
	added    time.Time     // when the last peer was added by AddPeer or introduced itself
	ignored  int
	ignSrc   map[netip.Addr]struct{}
	limited  int
	// cookieKey makes the return-routability cookies (cookieFor).
	cookieKey [32]byte
	gate      *auth.Gate // nil without keys
}

// discoveredHellos is how many hellos a discovered peer gets before it
// answers: a forged discovery answer draws one hello, not a stream.
const discoveredHellos = 1

// cookieFor returns the cookie of address a: the first 4 bytes of an HMAC
// of a under a secret of this test (never 0), which the peer at a echoes
// in its probes to prove that it receives what is sent to a (as DTLS's
// HelloVerifyRequest and QUIC's Retry do).
func (t *tester) cookieFor(a netip.AddrPort) uint32 {
	m := hmac.New(sha256.New, t.cookieKey[:])
	b, _ := peerKey(a).MarshalBinary()
	m.Write(b)
	c := binary.BigEndian.Uint32(m.Sum(nil))
	if c == 0 {
		c = 1
	}
	return c
}

func (t *tester) now() uint64 { return uint64(time.Since(t.start)) }

func (t *tester) run(ctx context.Context) *Report {
	t.start = time.Now()
	readCtx, stopRead := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { t.readLoop(readCtx) })

	interrupted := !t.handshake(ctx)
	if !interrupted {
		interrupted = !t.probeLoop(ctx)
	}
	if !interrupted {
		interrupted = !t.linger(ctx)
	}
	stopRead()
	wg.Wait()
	return t.report(interrupted)
}

// handshake sends hellos (seq 0) until every listed peer has been heard
// or StartWait has passed. It returns false if ctx ended.
func (t *tester) handshake(ctx context.Context) bool {
	if t.cfg.StartWait < 0 || len(t.cfg.Peers) == 0 && !t.cfg.Discover {
		return ctx.Err() == nil
	}
	deadline := time.NewTimer(t.cfg.StartWait)
	defer deadline.Stop()
	tick := time.NewTicker(min(t.cfg.Interval, 200*time.Millisecond))
	defer tick.Stop()
	send := true
	for {
		if t.handshakeDone(time.Now()) {
			return true
		}
		if send { // on the ticker only: answers must not trigger hellos
			t.send(0, true)
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return true
		case <-tick.C:
			send = true
		case <-t.peerDone:
			send = false
		}
	}
}

// handshakeDone reports whether every listed (or found) peer was heard
// (a found one: and proven) and, with Discover, at least one was found and
// none was added or introduced itself for DefaultSettle.
func (t *tester) handshakeDone(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg.Discover && (len(t.peers) == 0 || now.Sub(t.added) < min(DefaultSettle, t.cfg.StartWait)) {
		return false
	}
	for _, p := range t.peers {
		// A discovered peer must also have proven that it receives at
		// its address: until then it gets no counted unicast probe,
		// and a run started before would count them as lost.
		if p.listed && (!p.heard || p.discovered && !p.proven) {
			return false
		}
		// With discovery, a participant that introduced itself by
		// unicast is waited for until it echoed our cookie (its
		// announcement may not have come yet): then it is probed from
		// probe 1.
		if t.cfg.Discover && !p.listed && p.heard && !p.proven {
			return false
		}
	}
	return true
}

// probeLoop sends the counted probes. It returns false if ctx ended.
func (t *tester) probeLoop(ctx context.Context) bool {
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for seq := uint32(1); t.count == 0 || seq <= t.count; seq++ {
		t.send(seq, false)
		if t.count != 0 && seq == t.count {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// linger keeps answering until every peer that was heard has finished (its
// last probe arrived, or it was silent for Linger) and our own last
// replies had Linger to come back. It returns false if ctx ended.
func (t *tester) linger(ctx context.Context) bool {
	end := time.Now().Add(t.cfg.Linger)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		if t.finished(now, end) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// finished reports whether the linger phase may end.
func (t *tester) finished(now, end time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	repliesIn := true
	for _, p := range t.peers {
		if !p.heard {
			continue
		}
		if !t.peerFinished(p, now) {
			return false
		}
		for _, k := range t.kinds() {
			if p.kinds[k].lastSeq < t.seq {
				repliesIn = false
			}
		}
	}
	return repliesIn || !now.Before(end)
}

// peerFinished reports whether we may stop answering p: it runs until
// stopped (it does not wait for us either), it was silent for Linger, or
// its last probe of each kind arrived. Both kinds count: the last group
// probe and the last unicast probe of a run travel separately, and a
// participant that left after the first of them would leave the other
// unanswered (the peer would count it as lost). A kind of which nothing
// came for Linger (or nothing at all) is not waited for.
func (t *tester) peerFinished(p *peerState, now time.Time) bool {
	if p.count == 0 || now.Sub(p.lastSeen) > t.cfg.Linger {
		return true
	}
	if p.lastHigh < p.count {
		return false
	}
	for _, k := range []wire.Kind{wire.KindMulticast, wire.KindUnicast} {
		ks := &p.kinds[k]
		tr := ks.from[p.session]
		if tr != nil && tr.highest < p.count && now.Sub(ks.fromSeen) <= t.cfg.Linger {
			return false
		}
	}
	return true
}

// kinds returns the kinds of probe this participant sends.
func (t *tester) kinds() []wire.Kind {
	if t.sendG {
		return []wire.Kind{wire.KindMulticast, wire.KindUnicast}
	}
	return []wire.Kind{wire.KindUnicast}
}

// send sends probe seq to the group and to every peer (hello: only to the
// listed peers not heard yet, and to the group).
func (t *tester) send(seq uint32, hello bool) {
	t.mu.Lock()
	if !hello {
		t.seq = seq
	}
	type target struct {
		addr   netip.AddrPort
		cookie uint32
	}
	var targets []target
	for _, p := range t.peers {
		probe := false
		// one hello per cookie received, in answer to nothing: it
		// draws one reply at most
		echo := hello && p.cookie != 0 && !p.echoed
		if echo {
			p.echoed = true
		}
		switch {
		case hello && p.discovered:
			// A discovered peer may be a forged announcement naming
			// a victim: it gets discoveredHellos until it answers.
			// A peer that introduced itself by unicast is greeted
			// too: its probe proves nothing about its address, our
			// hello's reply does.
			probe = !p.proven && p.hellos < discoveredHellos
			if probe {
				p.hellos++
			}
			probe = probe || echo
		case hello:
			probe = p.listed && !p.heard || echo
		default:
			// Counted probes: listed peers, and the others only once
			// they proved that they receive at their address.
			probe = p.listed && !p.discovered || p.proven
		}
		if probe {
			targets = append(targets, target{p.addr, p.cookie})
		}
		if !hello && p.heard {
			for _, k := range t.kinds() {
				if p.kinds[k].base == 0 && (probe || k == wire.KindMulticast) {
					p.kinds[k].base = seq
				}
			}
		}
	}
	t.mu.Unlock()

	pr := wire.Probe{
		Session: t.session, Seq: seq, Flags: t.flags, Count: t.count,
		IntervalMillis: uint32(t.cfg.Interval / time.Millisecond), Pad: max(0, t.cfg.Size-wire.ProbeLen-t.gate.Overhead()),
	}
	if t.count != 0 && seq == t.count {
		pr.Flags |= wire.ProbeLast
	}
	if t.sendG {
		pr.Kind, pr.TTL, pr.Time = wire.KindMulticast, uint8(t.conn.TTL()), t.now()
		t.buf = sealed(t.gate, wire.AppendProbe(t.buf[:0], pr), -1)
		if len(t.buf) == 0 {
			return
		}
		if _, err := t.conn.WriteGroup(t.buf); err != nil {
			t.log.Warn("multicast: probe to group", "seq", seq, "err", err)
		}
	}
	pr.Kind, pr.TTL = wire.KindUnicast, uint8(t.conn.UnicastTTL())
	for _, a := range targets {
		pr.Time, pr.Cookie = t.now(), a.cookie
		t.buf = sealed(t.gate, wire.AppendProbe(t.buf[:0], pr), -1)
		if len(t.buf) == 0 {
			return
		}
		if err := t.conn.WriteTo(t.buf, a.addr); err != nil {
			t.log.Debug("multicast: probe to peer", "peer", a.addr, "seq", seq, "err", err)
		}
	}
}
