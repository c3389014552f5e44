package discovery

import (
	"net/netip"
	"slices"
	"time"

	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// The answer budget of a shared query (PROTOCOL.md section 6.4, "No
// amplification"). A QUERY sent to the broadcast address or a group reaches
// every server on the link, and each would answer the source address,
// which may be forged: N servers would send N answers to a victim for one
// datagram. So the servers share one budget, the bytes of the query copies
// each of them received: every server orders the instances that would
// answer (its peers heard announcing on the link, itself included) by a
// hash of the query's message ID and the instance, and answers only when
// the answers ranked before its own, plus its own, fit in the budget. All
// servers compute the same order from the same announcements, so together
// they send at most the query's bytes; the ones left out answer a later
// round, whose known-answer list names the ones already found. The IPv6
// copy ranks in the reverse order, so that on a dual-stack link the two
// families' answers cover different servers first.

// peer is another instance heard announcing on one link.
type peer struct {
	service, instance string         // as announced
	cost              int            // bytes of its last datagram: at most what one answer of it costs
	to                netip.AddrPort // where it was first heard from (with zone): verification queries go there
	addrs             []netip.Addr   // the addresses its record lists, without zone
	expires           time.Time

	// Return routability (verify.go).
	verified bool                // it answered a unicast query of ours at to: it ranks
	lastID   uint64              // message ID of its last datagram
	ids      int                 // distinct message IDs heard, at most maxIDs: its priority
	credit   int                 // bytes heard from it not yet spent on verification queries
	tries    int                 // verification queries sent in its stay in the pending set
	sent     time.Time           // when the last one went
	qids     [verifyTries]uint64 // message IDs of the last queries sent to it
	nq       int                 // queries sent to it
	answered time.Time           // when it first answered one of our own shared queries; zero if never
	first    time.Time           // when it was first heard
	graced   bool                // it holds one of its link's grace slots (verify.go)
	calm     bool                // heard while its link was calm: it ranks unverified (verify.go, lazy)
}

// ranks reports whether pr counts in answer budgets at now: verified,
// heard while its link was calm and not refuted since (verify.go, lazy),
// or while it waits for verification, for answerGrace after it answered
// one of our own queries or after it was first heard when it holds a
// grace slot (verify.go).
func (pr *peer) ranks(now time.Time) bool {
	if !now.Before(pr.expires) {
		return false
	}
	return pr.verified || pr.calm || !pr.answered.IsZero() && now.Sub(pr.answered) < answerGrace ||
		pr.graced && now.Sub(pr.first) < answerGrace
}

// owns reports whether src (without zone) speaks for pr: the address it
// was first heard from, or one its record lists.
func (pr *peer) owns(src netip.Addr) bool {
	return src == plainAddr(pr.to.Addr()) || slices.Contains(pr.addrs, src)
}

// maxPeers caps the peers an Announcer tracks per interface. A full table
// makes room by forgetting an unverified peer; verified ones leave only
// when they expire or say goodbye.
const maxPeers = 1024

// learn notes the record rec, heard from p.src on p's link as an ANNOUNCE
// (or an ANSWER to our probe) with message ID id, as a peer's; a GOODBYE
// (TTL 0) from a source that speaks for it forgets it. A new peer is
// unverified: while its link is calm it ranks as it is, once the link is
// crowded it is asked to prove its address (verify.go, lazy). First come:
// while a verified peer lives, a datagram of its name from another source
// is ignored.
func (a *Announcer) learn(p inPacket, id uint64, rec wire.Record, now time.Time) {
	if netif.ByIndex(a.links, p.ifIndex) == nil {
		return
	}
	h := wire.KnownHash(rec.Service, rec.Instance)
	if h == a.ownHash() {
		return // ourselves, or a name conflict (conflict handles it)
	}
	src := plainAddr(p.src.Addr())
	m := a.peers[p.ifIndex]
	pr := m[h]
	if rec.TTL == 0 {
		if pr != nil && pr.owns(src) {
			delete(m, h)
		}
		return
	}
	if pr != nil && !pr.owns(src) {
		if pr.verified && now.Before(pr.expires) {
			return // first come
		}
		if !pr.verified && pr.to.Addr().Is4() == p.src.Addr().Is4() {
			// Unverified: the newest source of the family is asked
			// (an honest server's copies of both families do not
			// flap it, its record lists both).
			pr.to, pr.tries = p.src, 0
		} else {
			pr = nil // expired: a new claimant starts over
		}
	}
	if m == nil {
		if a.peers == nil {
			a.peers = make(map[int]map[uint64]*peer)
		}
		m = make(map[uint64]*peer)
		a.peers[p.ifIndex] = m
	}
	if pr == nil {
		if len(m) >= maxPeers && !a.makeRoom(p.ifIndex, m, now) {
			return
		}
		pr = &peer{to: p.src, first: now}
		m[h] = pr
	}
	// The record's size, not the datagram's: start announcements are
	// padded (verify.go), answers are not.
	pr.service, pr.instance, pr.cost = rec.Service, rec.Instance, min(len(p.b), wire.RecordLen(rec)+a.gate.Overhead())
	pr.addrs = plainAddrs(rec.Addrs)
	pr.expires = now.Add(recordTTL(rec.TTL))
	if id != pr.lastID || pr.ids == 0 {
		pr.lastID = id
		pr.ids = min(pr.ids+1, maxIDs)
	}
	if pr.answered.IsZero() && a.isOwn(id) {
		pr.answered = now // an ANSWER to our query (receive drops others)
	}
	if !pr.verified {
		pr.credit = min(pr.credit+a.creditFor(p, id, h, pr, now), maxCredit)
		a.grace(p.ifIndex, h, pr, now)
		if !a.lazy(p.ifIndex, h, pr, now) {
			a.want(p.ifIndex, h, pr)
		}
	}
}

// makeRoom frees a slot of the full peer table m of link ifIndex: expired
// peers go (swept at most every sweepInterval: a flood calls this for
// every datagram), else an unverified one heard with one message ID (map
// order is random), else any unverified one.
func (a *Announcer) makeRoom(ifIndex int, m map[uint64]*peer, now time.Time) bool {
	if v := a.verifierOf(ifIndex); now.Sub(v.swept) >= sweepInterval {
		v.swept = now
		for k, o := range m {
			if !now.Before(o.expires) {
				delete(m, k)
			}
		}
		if len(m) < maxPeers {
			return true
		}
	}
	n := 0
	for k, v := range m {
		if !v.verified {
			if v.ids <= 1 || n >= 16 {
				delete(m, k)
				return true
			}
			n++
		}
	}
	return false
}

// ownHash is the known-answer hash of the Announcer's instance.
func (a *Announcer) ownHash() uint64 { return wire.KnownHash(a.cfg.Service, a.cfg.Instance) }

// rankKey orders the answerers of query id: a mix of the ID and the
// instance's hash, so each round ranks the servers anew; IPv6 reversed.
func rankKey(id, hash uint64, family int) uint64 {
	k := mix64(id ^ hash)
	if family == 6 {
		k = ^k
	}
	return k
}

// mix64 is the SplitMix64 finalizer: every input bit moves every output
// bit, so consecutive message IDs give unrelated orders.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// ahead returns the bytes the peers on link ifIndex that rank before this
// Announcer for query q (ID id, address family) will answer with, each
// answer counted copies times: the peers that the query asks for and does
// not list as known.
func (a *Announcer) ahead(ifIndex int, id uint64, family int, q wire.Query, copies int, now time.Time) int {
	own := a.ownHash()
	mine := rankKey(id, own, family)
	sum := 0
	for h, pr := range a.peers[ifIndex] {
		if !pr.ranks(now) || slices.Contains(q.Known, h) ||
			q.Service != "" && !wire.EqualFold(q.Service, pr.service) ||
			q.Instance != "" && !wire.EqualFold(q.Instance, pr.instance) {
			continue
		}
		if k := rankKey(id, h, family); k < mine || k == mine && h < own {
			sum += copies * pr.cost
		}
	}
	return sum
}

// sharedQuery reports whether p reached (or may have reached) every server
// on its link: sent to a group or broadcast address, or to an unknown
// destination. A query to one of the link's own addresses is this
// server's alone.
func sharedQuery(p inPacket, l *netif.Interface) bool {
	return !p.dst.IsValid() || !l.Has(p.dst)
}

// Peer discovery at start. A server learns its peers from their
// announcements, but a running peer re-announces only every 2/3 of its
// TTL (72 to 80 s by default): a server that has just started has heard
// none of them, would rank itself before peers it does not know, and could
// answer beyond a shared query's budget. So at start it asks: rounds of a
// QUERY for every service, padded as a browser's, listing the peers it
// already knows (known answers), on the browser's schedule; the peers
// answer it by unicast within the budget of that query, and their answers
// teach it the peers (receive, learn). Until at least three rounds went
// out and the last two found no new peer (about 90 ms on a clean LAN; at
// most the whole front-loaded schedule, 790 ms), it answers no shared query:
// those go to the peers that know the server from its start burst, and a
// browser's next round, or a unicast query, finds it. These rounds are
// also the server's probes for its own name (conflict.go): a server using
// it answers them, and they replace the 512-byte probes that used to go
// with the start announcements, so a start sends as many query datagrams
// as before.

// The peer discovery ends when at least warmMinRounds rounds went out and
// the last warmQuietRounds of them found no new peer. Under 30 % loss a
// round misses a given peer with a probability of about 0.18 (both IPv4
// copies or its IPv4 answer lost, and the IPv6 query or answer lost), so
// every peer is in three rounds at least: missed by all with about 0.006.
const (
	warmMinRounds   = 3
	warmQuietRounds = 2
)

// warmUp is called by Run's timer: it closes the round before (did it
// find peers?) and sends the next one, returning the wait until the next
// call, or more false when the peer discovery is over.
func (a *Announcer) warmUp() (next time.Duration, more bool) {
	// Only peers found by answers count: a peer that starts meanwhile is
	// learned from its announcements, and answers no shared query yet.
	n := a.warmFound
	if a.warmRound > 0 {
		// A peer still being verified may rank before us: not quiet.
		if n > a.warmPeers || a.pendingVerifications() > 0 {
			a.warmQuiet = 0
		} else {
			a.warmQuiet++
		}
	}
	if a.warmQuiet >= warmQuietRounds && a.warmRound >= warmMinRounds || a.warmRound >= len(queryOffsets) {
		a.warm = true
		return 0, false
	}
	a.warmPeers = n
	a.askPeers()
	a.warmRound++
	if a.warmRound == len(queryOffsets) {
		return maxQueryInterval / 5, true // time for the last round's answers
	}
	return queryOffsets[a.warmRound] - queryOffsets[a.warmRound-1], true
}

// peerCount returns the peers known on all links.
func (a *Announcer) peerCount() int {
	n := 0
	for _, m := range a.peers {
		n += len(m)
	}
	return n
}

// askPeers sends one round of the start's peer discovery on every link:
// a QUERY for every service, padded to a browser's size (the peers share
// its bytes as their answer budget; the IPv6 copy one frame), the peers
// known on the link listed. On a link with IPv4 it goes to the directed
// broadcast address and the IPv4 group only (every peer listens on both
// families, and a peer learned once ranks in both): half the answers and a
// third fewer frames than every destination; on an IPv6-only link to the
// IPv6 group.
func (a *Announcer) askPeers() {
	for i := range a.links {
		l := &a.links[i]
		var known []uint64
		for h, pr := range a.peers[l.Index] {
			if (pr.verified || pr.calm) && time.Now().Before(pr.expires) {
				known = append(known, h)
			}
		}
		q := wire.Query{Known: fitKnown(known, "")}
		id := a.newID()
		msg, err := wire.AppendQuery(nil, id, q, DefaultQuerySize-a.gate.Overhead())
		if err == nil {
			msg, err = a.gate.Seal(msg, -1)
		}
		if err != nil {
			return
		}
		msg6, err := wire.AppendQuery(nil, id, q, maxDatagram6-a.gate.Overhead())
		if err == nil {
			msg6, err = a.gate.Seal(msg6, -1)
		}
		if err != nil {
			return
		}
		v4 := len(l.IPv4) > 0
		forEachTarget(l, a.cfg.DiscoveryPort, func(dst netip.AddrPort) {
			if dst.Addr().Is4() {
				a.send(msg, dst, l.Index)
			} else if !v4 {
				a.send(msg6, dst, l.Index)
			}
		})
	}
}
