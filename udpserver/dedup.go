package udpserver

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// The de-duplication table remembers every exchange for the whole window
// (EXCHANGE_LIFETIME): an entry leaves only when its window has passed,
// never to make room. Forgetting an exchange early would run its handler
// again on a retransmission; refusing a new message (NACK busy) only makes
// the client try again. So the bounds are enforced on admission:
//
//   - the table holds at most max entries (DedupEntries);
//   - one sender (address and port) at most perPort (DedupPerSource);
//   - one host (IPv4 address or IPv6 /64, as the rate limiter counts) at
//     most perHost (DedupPerHost), so that one machine's sockets, or
//     datagrams forged with its address, cannot fill the table for others.
//
// A sender over its share, or any sender when the table is full, gets
// NACK busy for a new message ID; its remembered exchanges are answered
// as before. No sender can make another (address, port)'s entries go.
//
// When senders can prove their address (the server sends cookies), the
// table's total is split the same way: unproved (claimed) exchanges may
// take at most claimedMax entries, 3/4 of max (claimedPart), so that
// forgeries from many addresses, each under its shares, cannot fill the
// table; a new unproved message past it gets dedupUnproved ("table
// full"), a proved one is admitted into the rest, up to max.
//
// Shares are counted twice over, proved and claimed: an exchange whose
// first copy echoed a valid cookie (cookie.go) counts in the shares of the
// proved sender and proved host, any other in the shares of the sender
// and host it claims, each pair with the same limits. Datagrams forged
// with a host's address fill only its claimed shares; the host's own
// clients, once they have proved their address, are counted apart. An
// unproved new message over a claimed share gets dedupUnproved, so that
// the server can ask for that proof (a cookie NACK) instead of busy.
//
// Layout (issue 12: no map, no pointers, nothing allocated per datagram):
// the entries sit in a ring in arrival order, which is also expiry order
// because every entry lives for the same window; an open-addressing index
// (linear probing, load ≤ 1/2) maps a key's hash to its ring position; a
// second open-addressing table counts the entries of each sender and
// host by 64-bit fingerprint. Both grow by doubling up to their size for
// max entries, so an idle server does not hold the whole budget; once
// grown, nothing allocates. Bytes per entry at full size: see
// DedupBytesPerEntry.

// dedupKey names one exchange: the sender's address and port and the
// message ID it chose. The address is unmapped and stored as 16 bytes
// (IPv4 as ::ffff:a.b.c.d); an IPv6 zone is not part of the key.
type dedupKey struct {
	addr [16]byte
	port uint16
	id   uint64
}

func makeDedupKey(ap netip.AddrPort, id uint64) dedupKey {
	return dedupKey{addr: ap.Addr().As16(), port: ap.Port(), id: id}
}

// dedupState is what the table knows about an exchange.
type dedupState uint8

const (
	dedupNew     dedupState = iota // first sight: the caller runs the handler, then calls finish
	dedupRunning                   // the handler for this exchange is still running: drop
	dedupDone                      // handled: repeat the stored reply
	dedupFull                      // the table or a share is full: refuse (NACK busy)

	// dedupUnproved: an unproved sender's claimed share (sender or host)
	// is full. The caller asks for a proof of address (a cookie NACK)
	// when it can, and otherwise calls refuse and answers NACK busy.
	dedupUnproved
)

// dedupEntry is one remembered exchange: 40 bytes, no pointers.
type dedupEntry struct {
	addr   [16]byte
	id     uint64
	at     int64 // when the first copy arrived, server clock in ns
	port   uint16
	state  dedupState
	code   wire.Code // wire.CodeNone for an ACK
	reason uint16    // 1 + slot in reasons of the NACK text; 0: none
	proved bool      // counted in the proved shares (its first copy echoed a valid cookie)
}

// srcSlot counts the entries of one sender or host, by fingerprint.
type srcSlot struct {
	fp uint64 // 0: empty
	n  uint32
}

// reasonSlots is how many NACK texts the table keeps (a ring, 32 bytes a
// slot): a retransmission of one of the last reasonSlots refused messages
// gets the same text again; an older one the same code with no text.
const reasonSlots = 4096

// dedupEntry.reason holds 1 + a slot: reasonSlots must fit in a uint16.
const _ = uint16(reasonSlots)

type reasonSlot struct {
	id   uint64 // the exchange it belongs to, to tell a reused slot
	at   int64
	text string
}

// DedupBytesPerEntry is the memory the de-duplication table takes per
// entry of DedupEntries once it has grown to its full size: a 40-byte
// entry, 2 index slots of 8 bytes and 4 counting slots of 16 bytes (one
// per sender and one per host, at load ≤ 1/2). For a power-of-two
// DedupEntries the table's size is exactly DedupEntries ×
// DedupBytesPerEntry, plus 128 KiB of NACK texts; otherwise the two hash
// tables round up to the next power of two.
const DedupBytesPerEntry = 40 + 2*8 + 4*16

// dedupInitial is the table's starting capacity.
const dedupInitial = 1024

// dedupTable remembers exchanges for a window, bounded in total, per
// sender and per host. It is safe for concurrent use.
type dedupTable struct {
	mu       sync.Mutex
	window   int64
	max      int
	claimMax int // the most unproved entries (claimedPart, or max without cookies)
	perPort  uint32
	perHost  uint32
	seed     [6]uint64

	ring    []dedupEntry // capacity: len(ring), grows to max
	head    int          // oldest entry
	n       int          // entries
	claimed int          // entries not proved (counted in the claimed shares)
	index   []uint64     // hash<<32 | ring position+1; 0: empty
	srcs    []srcSlot

	reasons    []reasonSlot
	nextReason int

	// Counters, read under mu.
	expired                  uint64 // entries that lived their whole window
	full, overPort, overHost uint64 // refusals with NACK busy, by cause
	cookies                  uint64 // refusals with a cookie NACK (refuse)
}

// claimedPart is the most entries of a table of max that unproved
// exchanges may hold when senders can prove their address: 3/4, so that
// a quarter stays for proved senders however many addresses forgeries
// claim (at least 1).
func claimedPart(max int) int {
	return max - max/4
}

// newDedupTable returns a table of maxEntries, perPort entries a sender and
// perHost a host, remembering each exchange for window. proofs says the
// server sends cookies: unproved exchanges then hold at most claimedPart
// of the table; without proofs (nobody can prove anything) the whole.
func newDedupTable(maxEntries, perPort, perHost int, window time.Duration, proofs bool) *dedupTable {
	maxEntries = max(maxEntries, 1)
	claimMax := maxEntries
	if proofs {
		claimMax = claimedPart(maxEntries)
	}
	t := &dedupTable{
		window:   window.Nanoseconds(),
		max:      maxEntries,
		claimMax: claimMax,
		perPort:  uint32(min(max(perPort, 1), maxEntries)),
		perHost:  uint32(min(max(perHost, 1), maxEntries)),
	}
	for i := range t.seed {
		t.seed[i] = rand.Uint64() | 1
	}
	return t
}

// mum is the 64×64→128-bit multiply folded to 64 bits (wyhash's mixer).
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func (t *dedupTable) hash(k *dedupKey) uint64 {
	a := binary.LittleEndian.Uint64(k.addr[:8])
	b := binary.LittleEndian.Uint64(k.addr[8:])
	h := mum(a^t.seed[0], b^t.seed[1])
	return mum(h^k.id^t.seed[2], uint64(k.port)^t.seed[3])
}

// fingerprints returns the counting keys of k's sender (address and port)
// and host (IPv4 address, or IPv6 /64), the proved ones when proved (other
// keys for the same sender and host). None is 0 (the empty mark).
func (t *dedupTable) fingerprints(addr *[16]byte, port uint16, proved bool) (sender, host uint64) {
	a := binary.LittleEndian.Uint64(addr[:8])
	b := binary.LittleEndian.Uint64(addr[8:])
	hostB := b
	if !netip.AddrFrom16(*addr).Is4In6() {
		hostB = 0 // the /64
	}
	h := mum(a^t.seed[4], hostB^t.seed[5])
	host = mum(h, t.seed[0])
	sender = mum(mum(a^t.seed[4], b^t.seed[5])^uint64(port), t.seed[1])
	if proved {
		host, sender = mum(host^t.seed[2], t.seed[3]), mum(sender^t.seed[3], t.seed[2])
	}
	host, sender = host|1, sender|1
	if sender == host {
		sender ^= 2 // keep the two kinds apart
	}
	return sender, host
}

// begin looks key up at time now. For a new exchange it records it as
// running and returns dedupNew; for a known one it returns its state and,
// when done, the reply to repeat; for a new one without room, dedupFull
// with wire.CodeBusy and the text that says which bound refused it, or
// dedupUnproved (not counted yet: see refuse) when the bound is a claimed
// share, or the claimed part of the table, and the sender did not prove
// its address. proved says the datagram echoed a valid cookie: a new
// exchange is then counted in the proved shares and may take the table's
// proved part.
func (t *dedupTable) begin(key dedupKey, now int64, proved bool) (dedupState, wire.Code, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(now)
	h := t.hash(&key)
	if t.index != nil {
		if _, p := t.find(&key, h); p >= 0 {
			e := &t.ring[p]
			if e.state == dedupDone && e.code == wire.CodeBusy {
				// NACK busy is not an answer to repeat: the handler did
				// not take the message, so its retransmission runs it
				// again (the entry keeps its place and its share).
				e.state = dedupRunning
				return dedupNew, 0, ""
			}
			return e.state, e.code, t.reasonOf(e)
		}
	}
	sfp, hfp := t.fingerprints(&key.addr, key.port, proved)
	switch {
	case t.n >= t.max:
		t.full++
		return dedupFull, wire.CodeBusy, wire.ReasonTableFull
	case !proved && t.claimed >= t.claimMax:
		// The claimed part is full, perhaps of forgeries from many
		// addresses: the rest is for senders that prove theirs.
		return dedupUnproved, wire.CodeBusy, wire.ReasonTableFull
	case t.count(sfp) >= t.perPort:
		if !proved {
			return dedupUnproved, wire.CodeBusy, wire.ReasonSenderShareFull
		}
		t.overPort++
		return dedupFull, wire.CodeBusy, wire.ReasonSenderShareFull
	case t.count(hfp) >= t.perHost:
		if !proved {
			return dedupUnproved, wire.CodeBusy, wire.ReasonHostShareFull
		}
		t.overHost++
		return dedupFull, wire.CodeBusy, wire.ReasonHostShareFull
	}
	if t.n == len(t.ring) {
		t.grow()
	}
	p := (t.head + t.n) % len(t.ring)
	t.ring[p] = dedupEntry{addr: key.addr, id: key.id, at: now, port: key.port, state: dedupRunning, proved: proved}
	t.n++
	if !proved {
		t.claimed++
	}
	slot, _ := t.find(&key, h)
	t.index[slot] = uint64(uint32(h))<<32 | uint64(p+1)
	t.add(sfp, 1)
	t.add(hfp, 1)
	return dedupNew, 0, ""
}

// refuse counts the refusal of a message begin returned dedupUnproved
// for, with the reason it gave: answered with a cookie NACK (cookie), or
// NACK busy.
func (t *dedupTable) refuse(reason string, cookie bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case cookie:
		t.cookies++
	case reason == wire.ReasonTableFull:
		t.full++ // the claimed part
	case reason == wire.ReasonSenderShareFull:
		t.overPort++
	default:
		t.overHost++
	}
}

// finish records the reply of an exchange begin returned dedupNew for.
// An entry that expired meanwhile (a handler that ran for the whole
// window) stays forgotten.
func (t *dedupTable) finish(key dedupKey, code wire.Code, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.index == nil {
		return
	}
	_, p := t.find(&key, t.hash(&key))
	if p < 0 || t.ring[p].state != dedupRunning {
		return
	}
	e := &t.ring[p]
	e.state, e.code = dedupDone, code
	if reason != "" {
		if t.reasons == nil {
			t.reasons = make([]reasonSlot, reasonSlots)
		}
		i := t.nextReason
		t.nextReason = (i + 1) % reasonSlots
		t.reasons[i] = reasonSlot{id: e.id, at: e.at, text: reason}
		e.reason = uint16(i + 1)
	}
}

func (t *dedupTable) reasonOf(e *dedupEntry) string {
	if e.reason == 0 {
		return ""
	}
	if r := &t.reasons[e.reason-1]; r.id == e.id && r.at == e.at {
		return r.text
	}
	return "" // the slot went to a later NACK
}

// find returns the index slot of key (hash h) and its ring position, or
// the empty slot where it would go and -1.
func (t *dedupTable) find(k *dedupKey, h uint64) (slot, pos int) {
	mask := len(t.index) - 1
	h32 := uint32(h)
	for i := int(h32) & mask; ; i = (i + 1) & mask {
		v := t.index[i]
		if v == 0 {
			return i, -1
		}
		if uint32(v>>32) == h32 {
			p := int(uint32(v)) - 1
			if e := &t.ring[p]; e.id == k.id && e.port == k.port && e.addr == k.addr {
				return i, p
			}
		}
	}
}

// expire removes the entries older than the window. The ring is in
// arrival order, so it stops at the first young one.
func (t *dedupTable) expire(now int64) {
	for t.n > 0 && now-t.ring[t.head].at >= t.window {
		e := &t.ring[t.head]
		k := dedupKey{addr: e.addr, port: e.port, id: e.id}
		slot, _ := t.find(&k, t.hash(&k))
		deleteShift(t.index, slot, func(v uint64) int { return int(uint32(v >> 32)) })
		sfp, hfp := t.fingerprints(&e.addr, e.port, e.proved)
		t.add(sfp, -1)
		t.add(hfp, -1)
		if !e.proved {
			t.claimed--
		}
		*e = dedupEntry{}
		t.head = (t.head + 1) % len(t.ring)
		t.n--
		t.expired++
	}
}

// deleteShift empties slot i of a linear-probing table and moves later
// entries of the same run back, so that no lookup stops early at the hole
// (Knuth's algorithm R). home returns the hash of a non-zero slot value.
func deleteShift[T comparable](tab []T, i int, home func(T) int) {
	var zero T
	mask := len(tab) - 1
	for {
		tab[i] = zero
		j := i
		for {
			j = (j + 1) & mask
			v := tab[j]
			if v == zero {
				return
			}
			// v may fill the hole if the hole lies on its probe path:
			// it is at least as far from v's home as j is.
			if (j-home(v))&mask >= (j-i)&mask {
				tab[i] = v
				i = j
				break
			}
		}
	}
}

// count returns the entries counted under fingerprint fp.
func (t *dedupTable) count(fp uint64) uint32 {
	if t.srcs == nil {
		return 0
	}
	mask := len(t.srcs) - 1
	for i := int(fp) & mask; ; i = (i + 1) & mask {
		switch t.srcs[i].fp {
		case fp:
			return t.srcs[i].n
		case 0:
			return 0
		}
	}
}

// add adds d (1 or -1) to fp's count, removing the slot at 0.
func (t *dedupTable) add(fp uint64, d int) {
	mask := len(t.srcs) - 1
	for i := int(fp) & mask; ; i = (i + 1) & mask {
		s := &t.srcs[i]
		switch s.fp {
		case fp:
			s.n = uint32(int(s.n) + d)
			if s.n == 0 {
				deleteShift(t.srcs, i, func(s srcSlot) int { return int(s.fp) })
			}
			return
		case 0:
			if d > 0 {
				*s = srcSlot{fp: fp, n: uint32(d)}
			}
			return
		}
	}
}

// grow doubles the ring (up to max) and rebuilds the index and the counts
// for it. It runs log2(max/1024) times in a table's life.
func (t *dedupTable) grow() {
	c := min(max(2*len(t.ring), dedupInitial), t.max)
	ring := make([]dedupEntry, c)
	for i := range t.n {
		ring[i] = t.ring[(t.head+i)%len(t.ring)]
	}
	t.ring, t.head = ring, 0
	t.index = make([]uint64, pow2(2*c))
	t.srcs = make([]srcSlot, pow2(4*c))
	for p := range t.n {
		e := &t.ring[p]
		k := dedupKey{addr: e.addr, port: e.port, id: e.id}
		h := t.hash(&k)
		slot, _ := t.find(&k, h)
		t.index[slot] = uint64(uint32(h))<<32 | uint64(p+1)
		sfp, hfp := t.fingerprints(&e.addr, e.port, e.proved)
		t.add(sfp, 1)
		t.add(hfp, 1)
	}
}

// pow2 returns the smallest power of two ≥ n.
func pow2(n int) int {
	return 1 << bits.Len(uint(n-1))
}

// dedupCounts is a snapshot of the table for Stats.
type dedupCounts struct {
	entries                  int
	bytes                    int
	expired                  uint64
	full, overPort, overHost uint64
	cookies                  uint64
}

func (t *dedupTable) counts() dedupCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return dedupCounts{
		entries:  t.n,
		bytes:    len(t.ring)*40 + len(t.index)*8 + len(t.srcs)*16 + len(t.reasons)*32,
		expired:  t.expired,
		full:     t.full,
		overPort: t.overPort,
		overHost: t.overHost,
		cookies:  t.cookies,
	}
}
