package discovery

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/udpkit/udpkit/netif"
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
// Verification is lazy: it costs frames (a query and an answer per peer
// and server, and neighbour resolution for a forged source), and it
// decides nothing while every peer's answer fits in one browser query
// together: then every server answers whoever ranks before it. So while
// a link is calm, the answers of all its live peers and ours within
// calmBytes (2944 bytes with IPv4: about 46 servers of 63-byte answers),
// a peer heard there is not asked to prove its address and ranks as it
// is (calm). When the link gets crowded (more servers, or a flood of
// forged names), the calm peers are asked at once, and a calm
// peer that does not prove its address within its tries stops ranking
// (refuted), as does every peer heard while the link is crowded until it
// proves its address. A forger thus gets at most calmBytes of answers
// ranked, only until the verification queries its names make crowded
// have gone unanswered (verifyTries × verifyRetry, about 120 ms), and a
// browser's first round has room for them besides the real servers
// (in its IPv4 copies; its IPv6 copy, 1452 bytes, may be spent on them).
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

// calmBytes is the most the answers of a link's peers and ours may cost
// together for the link to be calm (lazy): one round of a browser has
// room for all of them, in its two IPv4 copies (broadcast and group, one
// budget) on a link with IPv4, in its IPv6 copy on an IPv6-only one.
func calmBytes(l *netif.Interface) int {
	if len(l.IPv4) > 0 {
		return 2 * DefaultQuerySize
	}
	return maxDatagram6
}

const (
	// maxGrace is how many unverified peers of one link may rank while
	// they wait for verification (grace); maxShares caps the shared
	// datagrams whose bytes verification queries share.
	maxGrace  = 4
	maxShares = 512
)

// verifier is the verification state of one link.
type verifier struct {
	tokens  bucket
	pending []uint64            // known-answer hashes of peers waiting, at most maxPending
	out     map[uint64]inFlight // by message ID: queries sent within verifyWindow
	grace   []uint64            // peers holding a grace slot, at most maxGrace
	shares  map[uint64]*share   // by message ID: shared announcements heard
	ranked  []uint64            // hashes of the verified and calm peers (some may be gone: checked on use)
	swept   time.Time           // the last sweep of a full peer table (makeRoom)
	crowded bool                // the link was crowded when last looked at (lazy)
}

// inFlight is a verification query sent: to which peer, when.
type inFlight struct {
	peer uint64
	at   time.Time
}

// verifyWindow is how long the answer to a verification query is
// accepted (a loaded host answers late; retries do not cancel it).
const verifyWindow = 2 * time.Second

// share is the byte budget of one shared announcement (every copy heard
// of one message ID): the verification queries of every server that heard
// it spend at most these bytes together.
type share struct {
	at    time.Time
	bytes int
	taken bool // this server took its part
}

// padAnnounce pads a start announcement msg (unsealed) with zero bytes,
// which receivers ignore (PROTOCOL.md 6.3, extensions), to the size of one
// IPv6 frame sealed. Every server that hears a new peer wants to verify it
// and the servers share the bytes of the peer's shared datagrams for it
// (creditFor): a record-sized announcement pays for one query per copy, a
// padded one for about fourteen, so that on a LAN of servers started
// together every server verifies every other with its start burst.
// Re-announcements are not padded (one a minute per server).
func (a *Announcer) padAnnounce(msg []byte) []byte {
	if n := maxDatagram6 - a.gate.Overhead() - len(msg); n > 0 {
		msg = append(msg, make([]byte, n)...)
	}
	return msg
}

// creditFor returns the bytes datagram p (message ID id) from unverified
// peer pr (hash ph) lets this server spend on verifying pr. A datagram sent
// to this server alone gives its bytes. A shared one (broadcast, group)
// reached every server on the link, and each of them may want to verify
// pr: as for the answers to a shared query (budget.go), the servers rank
// by the message ID and their instances, and a server takes a query's
// bytes (pr's cost) only when the servers ranked before it, and itself,
// fit in the bytes of the copies heard. The servers ranked are the
// verified and the calm peers: a forged flood of names adds none (a
// flood makes the link crowded). A real peer's start
// burst (three announcements, three copies each) pays for nine queries;
// the servers left out verify it at its refreshes, and meanwhile its
// grace slot (grace) keeps the budget.
func (a *Announcer) creditFor(p inPacket, id, ph uint64, pr *peer, now time.Time) int {
	l := netif.ByIndex(a.links, p.ifIndex)
	if l == nil || !sharedQuery(p, l) {
		return len(p.b)
	}
	v := a.verifierOf(p.ifIndex)
	sh := v.shares[id]
	if sh == nil {
		if len(v.shares) >= maxShares {
			for k, o := range v.shares {
				if now.Sub(o.at) > 2*time.Second {
					delete(v.shares, k)
				}
			}
			if len(v.shares) >= maxShares {
				clear(v.shares)
			}
		}
		sh = &share{at: now}
		v.shares[id] = sh
	}
	sh.bytes += len(p.b)
	if sh.taken {
		return 0
	}
	own := a.ownHash()
	mine := rankKey(id, own, 4)
	ahead := 0
	m := a.peers[p.ifIndex]
	v.ranked = slices.DeleteFunc(v.ranked, func(h uint64) bool { o := m[h]; return o == nil || !o.verified && !o.calm })
	for _, h := range v.ranked { // not the whole table: this runs for every forged datagram
		if o := m[h]; h != ph && now.Before(o.expires) {
			if k := rankKey(id, h, 4); k < mine || k == mine && h < own {
				ahead++
			}
		}
	}
	if (ahead+1)*pr.cost > sh.bytes {
		return 0
	}
	sh.taken = true
	return pr.cost
}

// grace gives unverified peer pr (hash h) on link ifIndex a grace slot
// when one is free and pr looks like a real server: heard with two
// distinct message IDs (a start burst sends three within 500 ms) within
// answerGrace of its first datagram. While it holds the slot it ranks in
// answer budgets, so a real peer that is not verified yet (loss, or left
// out of the shared verification budget) costs no answer beyond a shared
// query's bytes. Slots are few: forged names that take them take at most
// maxGrace answers' bytes of a budget (a 1472-byte query has room for
// about 14), and only for answerGrace.
func (a *Announcer) grace(ifIndex int, h uint64, pr *peer, now time.Time) {
	if pr.graced || pr.ids < 2 || now.Sub(pr.first) >= answerGrace {
		return
	}
	v := a.verifierOf(ifIndex)
	m := a.peers[ifIndex]
	v.grace = slices.DeleteFunc(v.grace, func(k uint64) bool {
		o := m[k]
		return o == nil || o.verified || !o.graced || now.Sub(o.first) >= answerGrace
	})
	if len(v.grace) < maxGrace {
		v.grace = append(v.grace, h)
		pr.graced = true
	}
}

// verifierOf returns link ifIndex's verifier, made on first use.
func (a *Announcer) verifierOf(ifIndex int) *verifier {
	if a.verify == nil {
		a.verify = make(map[int]*verifier)
	}
	v := a.verify[ifIndex]
	if v == nil {
		v = &verifier{out: make(map[uint64]inFlight), shares: make(map[uint64]*share)}
		a.verify[ifIndex] = v
	}
	return v
}

// lazy reports whether unverified peer pr (hash h), just heard on link
// ifIndex, may go unverified: the link is calm. Then pr ranks as calm.
// When the link has just become crowded, every calm peer of it is asked
// to prove its address.
func (a *Announcer) lazy(ifIndex int, h uint64, pr *peer, now time.Time) bool {
	v := a.verifierOf(ifIndex)
	m := a.peers[ifIndex]
	was := v.crowded
	v.crowded = a.crowded(ifIndex, m, now)
	if !v.crowded {
		if !pr.calm {
			pr.calm = true
			if !slices.Contains(v.ranked, h) { // a refuted one may be listed still
				v.ranked = append(v.ranked, h)
			}
		}
		return true
	}
	if !was {
		for k, o := range m {
			if k != h && o.calm && !o.verified && now.Before(o.expires) {
				a.want(ifIndex, k, o)
			}
		}
	}
	return false
}

// crowded reports whether the answers of the live peers m of link ifIndex
// and ours cost more than calmBytes together. It stops there, so it looks
// at a few dozen peers at most, even in a full table.
func (a *Announcer) crowded(ifIndex int, m map[uint64]*peer, now time.Time) bool {
	l := netif.ByIndex(a.links, ifIndex)
	if l == nil {
		return true
	}
	limit := calmBytes(l)
	sum := wire.RecordLen(a.record(l, netip.Addr{}, a.ttl)) + a.gate.Overhead() // our answer
	for _, o := range m {
		if now.Before(o.expires) {
			if sum += o.cost; sum > limit {
				return true
			}
		}
	}
	return false
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

// dropPending removes entry j of v's pending set (the answers to the
// queries sent are still accepted within verifyWindow); an unverified
// peer removed stops ranking as calm.
func (a *Announcer) dropPending(v *verifier, m map[uint64]*peer, j int) {
	if pr := m[v.pending[j]]; pr != nil {
		pr.tries = 0
		if !pr.verified {
			pr.calm = false // refuted: asked on a crowded link, not proved (lazy)
		}
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
		for id, f := range v.out {
			if now.Sub(f.at) > verifyWindow {
				delete(v.out, id)
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
	pr.nq++
	pr.qids[pr.nq%len(pr.qids)] = id
	v.out[id] = inFlight{h, now}
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
	f, ok := v.out[h.ID]
	if !ok {
		return false
	}
	ph := f.peer
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
	if !slices.Contains(v.ranked, ph) { // a calm peer is listed already
		v.ranked = append(v.ranked, ph)
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
