package udpserver

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// Return routability under floods (PROTOCOL.md section 3.1, SECURITY.md).
// Without keys the rate limiter can only key a datagram by the address it
// claims, so datagrams forged with a victim's address empty the victim's
// bucket and lock it out. A DATA over its limit may therefore get a cookie
// instead of silence: a MAC of its source address and port and the
// current epoch under a secret of this process, which only a sender that
// receives at that address can echo. A DATA that echoes a valid cookie is
// counted in a bucket of its own (provedKey), which forgeries cannot
// reach. Checking a cookie is two AES blocks and touches no table, so a
// flood of bad cookies costs as little as the forgeries it rides on.

// DefaultCookieRate is how many cookie NACKs a second the server sends at
// most, all sources together, when Server.CookieRate is zero: each is a
// 24-byte answer to a datagram at least as long (never an amplification),
// and the budget bounds the CPU and the reflected bytes a flood draws. A
// client needs one cookie a minute; on a 2-core machine a budget of 50000
// cost the flooded socket's worker enough to push the victim of a valid
// flood past 2% retransmissions, 2000 kept it at 0 (BENCHMARKS.md, Floods).
const DefaultCookieRate = 2000

// cookieEpoch is how long one epoch of cookies lasts; a cookie is valid in
// its epoch and the next, 60 to 120 s (WireGuard rotates its cookie
// secret every 120 s).
const cookieEpoch = 60 * time.Second

// cookieJar makes and checks cookies. A cookie is two 4-byte MACs (each
// the first 4 bytes of a CBC-MAC with AES-128 over two blocks of fixed
// layout: fixed-length CBC-MAC is a PRF), under a random key drawn at
// start:
//   - bytes 0-3, the host tag: of the host as the jail keys it (an IPv4
//     address as ::ffff:a.b.c.d, an IPv6 /64 followed by 8 zero bytes)
//     in the first block, 2 zero bytes, the epoch and a 1 in the second.
//     It is what the source-spreading program checks in the kernel
//     (sockopt.Spread.Tags), so that a jailed host that proves its
//     address skips the quarantine socket its forgeries fill: the
//     kernel can compare a word, not compute a MAC.
//   - bytes 4-7: of the address in the first block, the port, the epoch
//     and a 0 in the second (the domain byte keeps the two MACs apart).
//
// The server checks all 8 bytes, so a cookie is bound to the address and
// port as before, with 64 bits against a forger; the kernel's check is
// only the first 32 (one forgery in 2^32 that guesses it still reaches a
// hashed socket, where the full check counts it as forged). The key
// never leaves the process, so no epoch key needs rotating: the epoch in
// the MAC input retires old cookies.
type cookieJar struct {
	block cipher.Block

	mu     sync.Mutex // guards the budget and recent
	tokens float64
	last   int64
	perNs  float64
	burst  float64
	// recent is, per hash slot of a source address and port, when it last
	// got a cookie (server time in ms, wrapping): one cookie a second per
	// sender, so that a flood from one socket cannot spend the server-wide
	// budget that its neighbours' cookies come from. A slot is set only
	// when the budget pays, so at most rate slots are busy at once: with
	// rate ≪ cookieSlots an honest sender finds its slot free although
	// forgeries from random ports fill the budget.
	recent [cookieSlots]uint32
	seed   maphash.Seed
}

// cookieSlots is the size of cookieJar.recent (64 KiB).
const cookieSlots = 1 << 14

// cookieEvery is the shortest time between two cookies to one sender.
const cookieEvery = time.Second

func newCookieJar(rate float64) (*cookieJar, error) {
	var key [16]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("udpserver: cookie secret: %w", err)
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("udpserver: cookie secret: %w", err)
	}
	burst := max(1, rate/10)
	return &cookieJar{block: block, perNs: rate / float64(time.Second), burst: burst, tokens: burst, seed: maphash.MakeSeed()}, nil
}

// mac computes the cookie of ap in epoch e, with scratch (in the packet,
// so that nothing escapes to the heap per datagram).
func (j *cookieJar) mac(ap netip.AddrPort, e int64, scratch *[32]byte) wire.Cookie {
	var c wire.Cookie
	binary.BigEndian.PutUint32(c[0:4], j.tag(ap.Addr(), e, scratch))
	a := ap.Addr().Unmap().WithZone("").As16()
	copy(c[4:], j.cbcMAC(a, ap.Port(), e, 0, scratch))
	return c
}

// tag is the host tag of a's host in epoch e: the cookie's first 4 bytes
// (see cookieJar), never 0 so that the placeholder never carries it.
func (j *cookieJar) tag(a netip.Addr, e int64, scratch *[32]byte) uint32 {
	h := a.Unmap().WithZone("").As16()
	if !a.Unmap().Is4() {
		clear(h[8:])
	}
	t := binary.BigEndian.Uint32(j.cbcMAC(h, 0, e, 1, scratch))
	return max(t, 1)
}

// hostTags returns the host tags of a's host the kernel accepts at server
// time now: this epoch's and the previous one's, as valid accepts.
func (j *cookieJar) hostTags(a netip.Addr, now int64) [2]uint32 {
	var scratch [32]byte
	e := now / int64(cookieEpoch)
	return [2]uint32{j.tag(a, e, &scratch), j.tag(a, max(e-1, 0), &scratch)}
}

// cbcMAC returns the first 4 bytes of the CBC-MAC of block1 and a second
// block (port, epoch e, domain byte d, zeros), in scratch.
func (j *cookieJar) cbcMAC(block1 [16]byte, port uint16, e int64, d byte, scratch *[32]byte) []byte {
	b1, b2 := scratch[:16], scratch[16:]
	copy(b1, block1[:])
	j.block.Encrypt(b1, b1)
	binary.BigEndian.PutUint16(b2[0:2], port)
	binary.BigEndian.PutUint64(b2[2:10], uint64(e))
	b2[10] = d
	clear(b2[11:16])
	for i := range 16 {
		b2[i] ^= b1[i]
	}
	j.block.Encrypt(b2, b2)
	return b2[:4]
}

// make returns the cookie for ap at server time now.
func (j *cookieJar) make(ap netip.AddrPort, now int64, scratch *[32]byte) wire.Cookie {
	return j.mac(ap, now/int64(cookieEpoch), scratch)
}

// valid reports whether c is ap's cookie of this epoch or the previous one.
func (j *cookieJar) valid(ap netip.AddrPort, c wire.Cookie, now int64, scratch *[32]byte) bool {
	e := now / int64(cookieEpoch)
	// Not constant time: a wrong guess teaches nothing about the next
	// cookie, which depends on the whole MAC.
	return j.mac(ap, e, scratch) == c || e > 0 && j.mac(ap, e-1, scratch) == c
}

// take takes one cookie NACK for ap from the server-wide budget at time
// now, unless ap (or a sender sharing its slot) had one within
// cookieEvery.
func (j *cookieJar) take(ap netip.AddrPort, now int64, scratch *[32]byte) bool {
	a := ap.Addr().Unmap().WithZone("").As16()
	copy(scratch[:16], a[:])
	binary.BigEndian.PutUint16(scratch[16:18], ap.Port())
	slot := maphash.Bytes(j.seed, scratch[:18]) % cookieSlots
	ms := uint32(now / int64(time.Millisecond))
	j.mu.Lock()
	defer j.mu.Unlock()
	if t := j.recent[slot]; t != 0 && ms-t < uint32(cookieEvery/time.Millisecond) {
		return false
	}
	j.tokens = min(j.burst, j.tokens+float64(now-j.last)*j.perNs)
	j.last = now
	if j.tokens < 1 {
		return false
	}
	j.tokens--
	j.recent[slot] = max(ms, 1)
	return true
}

// provedKey is the rate-limit key of datagrams that echoed a valid cookie
// from ap's host: ff76::a.b.c.d for an IPv4 host, ff77:0:0:0 followed by
// the /64 prefix for an IPv6 one. Both are IPv6 multicast addresses, never
// a source, so they collide neither with addresses nor with the
// authenticated identities (ff75, auth.go). One bucket per proved host, as
// rateKey has one per claimed host: a host's ports share it.
func provedKey(ap netip.AddrPort) netip.Addr {
	a := ap.Addr().Unmap()
	var k [16]byte
	k[0] = 0xff
	if a.Is4() {
		k[1] = 0x76
		v := a.As4()
		copy(k[12:], v[:])
	} else {
		k[1] = 0x77
		v := a.As16()
		copy(k[8:], v[:8])
	}
	return netip.AddrFrom16(k)
}

// limit runs the rate limiter on a well-formed unauthenticated message:
// the bucket of its proved host when it echoes a valid cookie, of the host
// it claims otherwise. limited reports a message over its limit, and out
// is then the reply to send (nil: drop it). A DATA over the limit gets a
// cookie while the server-wide budget lasts, else NACK "rate limited" at
// most once a second per source. proved reports a valid cookie, which the
// de-duplication table counts too (dedup.go).
func (s *worker) limit(p *packet, h wire.Header, b []byte, over bool, reply []byte) (out []byte, limited, proved bool) {
	now := s.now()
	key := rateKey(p.remote)
	if h.Flags&wire.FlagCookie != 0 && s.cookies != nil {
		// The placeholder (8 zero bytes) asks for a cookie: a DATA too
		// short for a cookie NACK carries it (PROTOCOL.md 3.1). It is
		// never valid, and not a bad cookie either.
		switch c, _ := wire.CookieOf(h, b); {
		case c == wire.Cookie{}: // the placeholder
		case s.cookies.valid(p.remote, c, now, &p.ck):
			s.stats.cookieValid.Add(1)
			key, proved = provedKey(p.remote), true
		default:
			s.stats.cookieInvalid.Add(1) // stale or forged: counted as the address it claims
		}
	}
	ok, nack := s.rates.allow(key, now)
	if ok {
		return nil, false, proved
	}
	s.stats.rateLimited.Add(1)
	if h.Type == wire.TypeData && !over {
		if !proved {
			if out := s.cookieNack(p, h.ID, len(b), now, reply); out != nil {
				return out, true, false
			}
		}
		if nack {
			s.stats.nack(wire.CodeRateLimited)
			return wire.AppendNack(reply[:0], h.ID, wire.CodeRateLimited, "", len(b)), true, proved
		}
	}
	return s.drop(&s.stats.rateLimitedDropped, p, "rate limited"), true, proved
}

// cookieNack returns a cookie NACK for message id of p's sender, or nil
// when the server has no cookies, the request (size bytes) is shorter
// than the NACK, or the budgets (server-wide, one a second per sender)
// are spent. It counts what it sends.
func (s *worker) cookieNack(p *packet, id uint64, size int, now int64, reply []byte) []byte {
	if s.cookies == nil || size < wire.CookieNackLen || !s.cookies.take(p.remote, now, &p.ck) {
		return nil
	}
	s.stats.cookies.Add(1)
	s.stats.nack(wire.CodeRateLimited)
	return wire.AppendCookieNack(reply[:0], id, s.cookies.make(p.remote, now, &p.ck))
}
