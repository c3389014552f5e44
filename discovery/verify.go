package discovery

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// Return routability of peers (PROTOCOL.md 6.4, "Verified peers"). The
// answer budget of a shared query is split among the peers a server ranks
// (budget.go); a peer that counts there but never answers takes budget
// from the real servers. Any host can send an ANNOUNCE (or an ANSWER to a
// query it saw on the link) with any name from any source address, so a
// peer heard that way is unverified and does not rank. A peer becomes
// verified when it answers a QUERY this server sent by unicast to the
// address it was heard from, naming its instance: the ANSWER carries the
// query's random message ID, which only a host that receives at that
// address has seen. So a forger that cannot receive at its spoofed
// addresses never ranks, however many names it announces.
//
// The verification query costs at most what the peer sent: it is never
// larger than the peer's datagram, and every query spends the bytes heard
// from the peer (its credit), so one forged datagram draws at most one
// datagram of at most its size (PROTOCOL.md 6.4, "No amplification").
// Queries to on-link addresses nobody holds also cost neighbour
// resolution frames, so they are rate limited per link (verifyRate), and
// the peers waiting for one are a bounded set (maxPending): a new one
// replaces a random waiting one of no higher priority, and a peer heard
// with more distinct message IDs (a real server's start burst, its
// refreshes) is tried first, so a flood of one-shot forged names slows the
// verification of a real peer but cannot keep it out for good.

const (
	// verifyRate limits the verification queries sent on one link.
	verifyPerSecond = 20
	verifyBurst     = 32
	// maxPending caps the peers of one link waiting for verification.
	maxPending = 64
	// verifyTries is how many queries a peer gets per stay in the
	// pending set (loss); verifyRetry the wait before the next one.
	verifyTries = 3
	verifyRetry = 40 * time.Millisecond
	// maxVerifiedPerSource caps the peers verified at one address: a
	// host that answers at its own address for thousands of names it
	// announced would otherwise rank all of them. An honest host runs
	// a few servers.
	maxVerifiedPerSource = 8
	// maxCredit caps the bytes a peer may have heard and not yet spent.
	maxCredit = 3 * wire.DefaultMaxDatagram
	// maxIDs caps the distinct message IDs counted for a peer's priority.
	maxIDs = 3
	// answerGrace is how long an unverified peer that answered one of
	// our own shared queries (the start's peer discovery) ranks while its
	// verification goes on. Such an answer is weaker evidence than a
	// verification (any host on the link sees a shared query's ID), but
	// stronger than an announcement, and under loss the verification may
	// take a few exchanges: ranking the peer meanwhile keeps the budget.
	// A forger answering our rounds with many names makes this server
	// defer shared queries for at most this long.
	answerGrace = 10 * time.Second
)

var verifyRate = Rate{PerSecond: verifyPerSecond, Burst: verifyBurst}

// verifier is the verification state of one link.
type verifier struct {
	tokens  bucket
	pending []uint64          // known-answer hashes of peers waiting, at most maxPending
	out     map[uint64]uint64 // message IDs of queries in flight -> the peer's hash
}

// verifierOf returns link ifIndex's verifier, made on first use.
func (a *Announcer) verifierOf(ifIndex int) *verifier {
	if a.verify == nil {
		a.verify = make(map[int]*verifier)
	}
	v := a.verify[ifIndex]
	if v == nil {
		v = &verifier{out: make(map[uint64]uint64)}
		a.verify[ifIndex] = v
	}
	return v
}

// want notes that unverified peer pr (hash h) on link ifIndex needs a
// verification query: it joins the pending set, replacing a random
// waiting peer of no higher priority when the set is full.
func (a *Announcer) want(ifIndex int, h uint64, pr *peer) {
	v := a.verifierOf(ifIndex)
	if slices.Contains(v.pending, h) {
		a.armVerify()
		return
	}
	if len(v.pending) < maxPending {
		v.pending = append(v.pending, h)
		a.armVerify()
		return
	}
	m := a.peers[ifIndex]
	for range 4 {
		j := rand.IntN(len(v.pending))
		o := m[v.pending[j]]
		if o == nil || o.verified || o.ids <= pr.ids {
			a.dropPending(v, m, j)
			v.pending = append(v.pending, h)
			a.armVerify()
			return
		}
	}
}

// dropPending removes entry j of v's pending set and forgets the queries
// in flight of its peer.
func (a *Announcer) dropPending(v *verifier, m map[uint64]*peer, j int) {
	if pr := m[v.pending[j]]; pr != nil {
		for _, id := range pr.qids {
			delete(v.out, id)
		}
		pr.qids = [verifyTries]uint64{}
		pr.tries = 0
	}
	v.pending[j] = v.pending[len(v.pending)-1]
	v.pending = v.pending[:len(v.pending)-1]
}

// armVerify makes Run's verification timer fire now (when Run runs).
func (a *Announcer) armVerify() {
	if a.verifyT != nil && !a.verifyArmed {
		a.verifyArmed = true
		a.verifyT.Reset(0)
	}
}

// verifyRound sends the verification queries that are due and the rate
// limit allows, drops the peers that are done, and sets the timer for the
// next round while any peer waits.
func (a *Announcer) verifyRound(now time.Time) {
	a.verifyArmed = false
	waiting := false
	for ifIndex, v := range a.verify {
		m := a.peers[ifIndex]
		// Drop what is done: gone, verified, expired, or out of tries
		// or credit (a peer's next datagram brings it back).
		for j := 0; j < len(v.pending); {
			pr := m[v.pending[j]]
			retry := pr != nil && (pr.tries == 0 || now.Sub(pr.sent) >= verifyRetry)
			if pr == nil || pr.verified || !now.Before(pr.expires) ||
				retry && (pr.tries >= verifyTries || pr.credit < pr.cost) {
				a.dropPending(v, m, j)
				continue
			}
			j++
		}
		if len(v.out) > 2*maxPending*verifyTries { // IDs of peers forgotten while pending
			for id, h := range v.out {
				if pr := m[h]; pr == nil || !slices.Contains(pr.qids[:], id) {
					delete(v.out, id)
				}
			}
		}
		for len(v.pending) > 0 {
			best := -1
			for j, h := range v.pending {
				pr := m[h]
				if pr.tries > 0 && now.Sub(pr.sent) < verifyRetry {
					continue
				}
				if best < 0 || better(pr, m[v.pending[best]]) {
					best = j
				}
			}
			if best < 0 || !v.tokens.take(verifyRate, now) {
				break
			}
			a.sendVerify(v, v.pending[best], m[v.pending[best]], ifIndex, now)
		}
		if len(v.pending) > 0 {
			waiting = true
		}
	}
	if waiting && a.verifyT != nil {
		a.verifyArmed = true
		a.verifyT.Reset(time.Second / verifyPerSecond)
	}
}

// better reports whether peer x is to be tried before y: heard with more
// distinct message IDs, then with fewer tries; ties at random.
func better(x, y *peer) bool {
	if x.ids != y.ids {
		return x.ids > y.ids
	}
	if x.tries != y.tries {
		return x.tries < y.tries
	}
	return rand.IntN(2) == 0
}

// sendVerify sends peer pr (hash h) on link ifIndex a unicast QUERY for
// its instance with a new random message ID, padded to the size of the
// peer's datagram so that its answer fits (an answer is never larger than
// the query), and spends that size of the peer's credit.
func (a *Announcer) sendVerify(v *verifier, h uint64, pr *peer, ifIndex int, now time.Time) {
	id := rand.Uint64()
	msg, err := wire.AppendQuery(nil, id, wire.Query{Service: pr.service, Instance: pr.instance}, pr.cost-a.gate.Overhead())
	if err == nil {
		msg, err = a.gate.Seal(msg, -1)
	}
	pr.tries++
	pr.sent = now
	if err != nil || len(msg) > pr.credit {
		return // unreachable: the query is shorter than any record of the same names
	}
	pr.credit -= len(msg)
	delete(v.out, pr.qids[(pr.tries-1)%verifyTries])
	pr.qids[(pr.tries-1)%verifyTries] = id
	v.out[id] = h
	a.stats.verifyQueries.Add(1)
	a.send(msg, pr.to, ifIndex)
}

// verifyAnswer handles an ANSWER (header h, body) that carries the ID of
// one of the verification queries in flight on p's link, and reports
// whether it did. It verifies the peer when the answer names it, with a
// TTL, from the address the query went to.
func (a *Announcer) verifyAnswer(p inPacket, h wire.Header, body []byte, now time.Time) bool {
	v := a.verify[p.ifIndex]
	if v == nil {
		return false
	}
	ph, ok := v.out[h.ID]
	if !ok {
		return false
	}
	rec, err := wire.ParseRecord(body)
	if err != nil {
		return true
	}
	m := a.peers[p.ifIndex]
	pr := m[ph]
	src := plainAddr(p.src.Addr())
	if pr == nil {
		delete(v.out, h.ID)
		return true
	}
	if rec.TTL == 0 || wire.KnownHash(rec.Service, rec.Instance) != ph ||
		src != plainAddr(pr.to.Addr()) || !slices.Contains(pr.qids[:], h.ID) {
		return true
	}
	n := 0
	for _, o := range m {
		if o.verified && plainAddr(o.to.Addr()) == src {
			n++
		}
	}
	if n >= maxVerifiedPerSource {
		return true
	}
	pr.verified = true
	pr.cost = len(p.b)
	pr.addrs = plainAddrs(rec.Addrs)
	pr.expires = now.Add(recordTTL(rec.TTL))
	if j := slices.Index(v.pending, ph); j >= 0 {
		a.dropPending(v, m, j)
	}
	a.stats.verified.Add(1)
	return true
}

// pendingVerifications returns the peers waiting for verification on all
// links.
func (a *Announcer) pendingVerifications() int {
	n := 0
	for _, v := range a.verify {
		n += len(v.pending)
	}
	return n
}

// plainAddrs returns as without zones, IPv4-mapped addresses unmapped.
func plainAddrs(as []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, min(len(as), 8))
	for _, x := range as[:min(len(as), 8)] {
		out = append(out, plainAddr(x))
	}
	return out
}
