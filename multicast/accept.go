package multicast

// Accepting probes and replies: the read loop, whom to answer (no
// reflection, reply budgets) and what a reply tells.

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/udpkit/udpkit/internal/readloop"
	"github.com/udpkit/udpkit/wire"
)

// unicastPeer reports whether a can be a peer: not a multicast,
// unspecified or limited broadcast (255.255.255.255) address.
func unicastPeer(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && !a.IsMulticast() && !a.IsUnspecified() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// peerKey is the map key of a peer address: unmapped, without zone.
func peerKey(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap().WithZone(""), a.Port())
}

func (t *tester) addPeer(a netip.AddrPort, listed bool) *peerState {
	p := &peerState{addr: netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), listed: listed, member: "unknown",
		tokens: replyBurst, sessLow: make(map[uint32]uint32)}
	for k := range p.kinds {
		p.kinds[k].ttlSeen, p.kinds[k].fromTTL = -1, -1
		p.kinds[k].from = make(map[uint32]*seqTracker)
	}
	t.peers = append(t.peers, p)
	t.byAddr[peerKey(a)] = p
	return p
}

// readLoop answers probes and records replies until ctx ends.
func (t *tester) readLoop(ctx context.Context) {
	b := make([]byte, 65536)
	var out []byte
	var fails readloop.Failures
	for {
		pk, err := t.conn.Read(ctx, b)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return
			}
			if !fails.Failed(ctx.Done(), t.log, "multicast: read", err) {
				return
			}
			continue
		}
		fails.Succeeded()
		d := b[:pk.N]
		h, body, ok := t.gate.Open(d) // verified and parsed once, dispatched by type
		if !ok {
			continue
		}
		switch h.Type {
		case wire.TypeProbe:
			pr, err := wire.ParseProbe(h, body)
			if err != nil || pr.Session == t.session {
				continue
			}
			if r, dst, ok := t.onProbe(pr, pk); ok {
				out = wire.AppendReply(out[:0], r)
				if t.gate != nil {
					out = sealed(t.gate, out, int(h.KeyID)) // with the probe's key
				}
				if len(out) > 0 && len(out) <= len(d) { // never larger than the probe
					if err := t.conn.WriteTo(out, dst); err != nil {
						t.log.Debug("multicast: reply", "peer", dst, "err", err)
					}
				}
			}
		case wire.TypeReply:
			r, err := wire.ParseReply(h, body)
			if err != nil || r.Session != t.session {
				continue
			}
			t.onReply(r, pk)
		}
		select {
		case t.peerDone <- struct{}{}:
		default:
		}
	}
}

// peerFor finds or adds the peer that sent a reply (a reply carries our
// session, so its sender got our probe).
func (t *tester) peerFor(src netip.AddrPort, session uint32) *peerState {
	p := t.byAddr[peerKey(src)]
	if p == nil && session != 0 {
		p = t.bySess[session]
	}
	if p == nil {
		if len(t.peers) >= maxPeers {
			return nil
		}
		p = t.addPeer(src, false)
	}
	if session != 0 && p.session != session {
		p.session = session
		t.bySess[session] = p
	}
	return p
}

// acceptProbe returns the peer that sent a probe and the address to send
// the reply to, or nil when the probe must not be answered (PROTOCOL.md
// section 7, "Whom to answer"):
//
//   - a probe by unicast introduces its source (one datagram in, one
//     out): it is answered at its source address;
//   - a probe through the group from an accepted address is answered at
//     that address;
//   - a probe through the group from another address but carrying the
//     session of a known peer (an IPv6 host sends to a link-local group
//     from its fe80:: address, while it was listed, discovered or
//     introduced with another one) is that peer's, and is answered at the
//     peer's known address, never at the probe's source: a forged probe
//     with a known session draws replies only to that peer, within its
//     budget, not to a victim;
//   - any other probe through the group is ignored.
func (t *tester) acceptProbe(pr wire.Probe, pk Packet) (*peerState, netip.AddrPort) {
	src := netip.AddrPortFrom(pk.Src.Addr().Unmap(), pk.Src.Port())
	p := t.byAddr[peerKey(pk.Src)]
	if p != nil {
		if pr.Session != 0 && p.session != pr.Session {
			if q := t.bySess[p.session]; q == p {
				delete(t.bySess, p.session)
			}
			p.session = pr.Session
			t.bySess[pr.Session] = p
		}
		return p, src
	}
	q := t.bySess[pr.Session]
	if pk.Multicast {
		if q != nil {
			return q, q.addr
		}
		if pr.Seq == 0 {
			return nil, src // a hello to the group from a participant not known yet
		}
		t.ignored++
		if t.ignSrc == nil {
			t.ignSrc = make(map[netip.Addr]struct{})
		}
		if len(t.ignSrc) < maxPeers {
			t.ignSrc[pk.Src.Addr().WithZone("")] = struct{}{}
		}
		return nil, src
	}
	// A unicast probe: the source introduces itself. A peer added by
	// AddPeer with this session, not heard yet, moves to this address;
	// another known peer keeps its address (it has several) and is
	// answered at this one.
	if q != nil {
		if q.discovered && !q.heard {
			delete(t.byAddr, peerKey(q.addr))
			q.addr = src
			t.byAddr[peerKey(q.addr)] = q
		}
		return q, src
	}
	if len(t.peers) >= maxPeers {
		t.ignored++
		return nil, src
	}
	p = t.addPeer(pk.Src, false)
	p.session = pr.Session
	t.bySess[pr.Session] = p
	// With discovery, its announcement is probably on the way: the
	// start-up handshake gives discovery DefaultSettle to find it.
	t.added = time.Now()
	return p, src
}

// allowReply takes one reply from p's budget.
func (t *tester) allowReply(p *peerState, now time.Time) bool {
	if !p.refilled.IsZero() {
		per := float64(replyPerInterval) / t.cfg.Interval.Seconds()
		p.tokens = min(replyBurst, p.tokens+now.Sub(p.refilled).Seconds()*per)
	}
	p.refilled = now
	if p.tokens < 1 {
		t.limited++
		return false
	}
	p.tokens--
	return true
}

// onProbe records a probe and returns the reply to send and where to.
func (t *tester) onProbe(pr wire.Probe, pk Packet) (wire.Reply, netip.AddrPort, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, dst := t.acceptProbe(pr, pk)
	if p == nil {
		return wire.Reply{}, dst, false
	}
	now := time.Now()
	if !pk.Multicast {
		p.heard = true
		if pr.Cookie != 0 && pr.Cookie == t.cookieFor(dst) {
			p.proven = true // it got our reply to its hello at this address
		}
	}
	p.lastSeen = now
	if pk.Interface != "" {
		p.iface = pk.Interface
	}
	p.count = pr.Count
	if pr.Flags&wire.ProbeMember != 0 {
		p.member = "yes"
	} else if p.member == "unknown" {
		p.member = "no"
	}
	if pr.Seq > p.lastHigh {
		p.lastHigh = pr.Seq
	}
	if low, ok := p.sessLow[pr.Session]; !ok || pr.Seq < low {
		if !ok && len(p.sessLow) >= 16 { // a peer restarting over and over
			clear(p.sessLow)
		}
		p.sessLow[pr.Session] = pr.Seq
	}
	var received, first uint32
	if pr.Seq != 0 {
		ks := &p.kinds[pr.Kind]
		ks.fromSeen = now
		tr := ks.from[pr.Session]
		if tr == nil {
			if len(ks.from) >= 16 { // a peer restarting over and over
				clear(ks.from)
			}
			tr = &seqTracker{}
			ks.from[pr.Session] = tr
		}
		ks.fromLast = pr.Session
		dup, reord := tr.add(pr.Seq)
		ks.fromTTL = pk.TTL
		received, first = tr.received, tr.first
		if t.cfg.OnEvent != nil {
			t.cfg.OnEvent(Event{Peer: p.addr, Kind: pr.Kind, Seq: pr.Seq, Size: pk.N, TTL: pk.TTL,
				Interface: pk.Interface, Duplicate: dup, Reordered: reord})
		}
	}
	if !t.allowReply(p, now) {
		return wire.Reply{}, dst, false
	}
	ttl := uint8(0)
	if pk.TTL > 0 && pk.TTL < 256 {
		ttl = uint8(pk.TTL)
	}
	if pr.Seq == 0 {
		first = t.cookieFor(dst) // a hello's reply counts nothing: it carries the cookie
	}
	return wire.ReplyTo(pr, ttl, t.session, t.flags, received, first), dst, true
}

func (t *tester) onReply(r wire.Reply, pk Packet) {
	rtt := time.Duration(t.now() - r.Time)
	t.mu.Lock()
	defer t.mu.Unlock()
	probed := t.byAddr[peerKey(pk.Src)]
	p := t.peerFor(pk.Src, r.Responder)
	if p == nil {
		return
	}
	p.heard = true
	if probed == p && p.listed {
		p.proven = true // it answered a probe we sent to its address
	}
	p.lastSeen = time.Now()
	if pk.Interface != "" {
		p.iface = pk.Interface
	}
	if r.Flags&wire.ProbeMember != 0 {
		p.member = "yes"
	} else if p.member == "unknown" {
		p.member = "no"
	}
	if r.Seq == 0 {
		if r.First != 0 && r.First != p.cookie {
			p.cookie, p.echoed = r.First, false // echoed in our probes to it
		}
		// An answer to our hello: the peer runs, and so its probe 1
		// comes later.
		if r.Responder != 0 {
			if _, ok := p.sessLow[r.Responder]; !ok && len(p.sessLow) >= 16 {
				clear(p.sessLow)
			}
			p.sessLow[r.Responder] = 0
		}
		return
	}
	if r.Kind != wire.KindMulticast && r.Kind != wire.KindUnicast {
		return
	}
	ks := &p.kinds[r.Kind]
	if ks.base != 0 && r.Seq < ks.base {
		return
	}
	dup, reord := ks.replies.add(r.Seq)
	if !dup {
		ks.rtt.add(rtt)
		// The peer's counter only grows: the highest one reported is
		// the most recent, whatever order the replies came in.
		ks.received = max(ks.received, r.Received)
		if r.First != 0 && (ks.first == 0 || r.First < ks.first) {
			ks.first = r.First
		}
		if r.Seq >= ks.lastSeq {
			ks.lastSeq = r.Seq
			ks.ttlSeen = int(r.TTLSeen)
			if r.TTLSeen == 0 {
				ks.ttlSeen = -1
			}
		}
	}
	if t.cfg.OnEvent != nil {
		ttl := int(r.TTLSeen)
		if ttl == 0 {
			ttl = -1
		}
		t.cfg.OnEvent(Event{Peer: p.addr, Reply: true, Kind: r.Kind, Seq: r.Seq, Size: pk.N, RTT: rtt,
			TTL: ttl, Interface: pk.Interface, Duplicate: dup, Reordered: reord})
	}
}
