package udpserver

import (
	"net/netip"
	"sync"
	"time"

	"github.com/udpkit/udpkit/internal/netaddr"
)

// DefaultRateSources is the hard cap of the rate-limit table: at about
// 150 bytes a source (entry and index) it bounds the table to ~2.5 MiB.
// When it is full the source heard from least recently goes.
const DefaultRateSources = 16384

// rateNackInterval is how often one source may be told NACK "rate limited"
// while it is over its limit; everything else over the limit is dropped.
const rateNackInterval = time.Second

// rateKey is the source a budget belongs to: an IPv4 address, or the /64
// prefix of an IPv6 address (one host on a LAN owns a whole /64, and could
// otherwise pick a fresh budget with every datagram).
func rateKey(ap netip.AddrPort) netip.Addr { return netaddr.HostKey(ap.Addr()) }

// rateEntry is one source's token bucket, linked into the table's
// recency list by index.
type rateEntry struct {
	key      netip.Addr
	tokens   float64 // datagrams it may still send now
	last     int64   // when tokens was computed, server clock in ns
	lastNack int64   // when it was last told "rate limited"; -1: never
	prev     int32   // recency list: toward the least recently seen
	next     int32
}

// rateTable is a token bucket per source with a hard cap on the number
// of sources, least recently seen out first. Its slots are reused, so
// once it has grown to its working size it does not allocate.
type rateTable struct {
	mu      sync.Mutex
	perNs   float64 // tokens per nanosecond
	burst   float64
	max     int
	index   map[netip.Addr]int32
	entries []rateEntry
	head    int32 // least recently seen
	tail    int32 // most recently seen
	evicted uint64
}

func newRateTable(rate float64, burst, maxSources int) *rateTable {
	return &rateTable{
		perNs: rate / float64(time.Second),
		burst: float64(burst),
		max:   maxSources,
		index: make(map[netip.Addr]int32),
		head:  nilIndex,
		tail:  nilIndex,
	}
}

// allow takes a token from key's bucket at time now. When the bucket is
// empty it reports whether the source may be told so (at most once per
// rateNackInterval).
func (t *rateTable) allow(key netip.Addr, now int64) (ok, nack bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, found := t.index[key]
	if !found {
		if len(t.index) >= t.max {
			t.evicted++
			i = t.head
			t.unlink(i)
			delete(t.index, t.entries[i].key)
		} else {
			t.entries = append(t.entries, rateEntry{})
			i = int32(len(t.entries) - 1)
		}
		t.entries[i] = rateEntry{key: key, tokens: t.burst, last: now, lastNack: -1}
		t.index[key] = i
	} else {
		t.unlink(i)
	}
	t.pushBack(i)
	e := &t.entries[i]
	e.tokens = min(t.burst, e.tokens+float64(now-e.last)*t.perNs)
	e.last = now
	if e.tokens >= 1 {
		e.tokens--
		return true, false
	}
	if e.lastNack < 0 || now-e.lastNack >= int64(rateNackInterval) {
		e.lastNack = now
		return false, true
	}
	return false, false
}

func (t *rateTable) unlink(i int32) {
	e := &t.entries[i]
	if e.prev != nilIndex {
		t.entries[e.prev].next = e.next
	} else {
		t.head = e.next
	}
	if e.next != nilIndex {
		t.entries[e.next].prev = e.prev
	} else {
		t.tail = e.prev
	}
}

func (t *rateTable) pushBack(i int32) {
	e := &t.entries[i]
	e.prev, e.next = t.tail, nilIndex
	if t.tail != nilIndex {
		t.entries[t.tail].next = i
	} else {
		t.head = i
	}
	t.tail = i
}

// counts returns the number of sources tracked and evicted.
func (t *rateTable) counts() (sources int, evicted uint64) {
	if t == nil {
		return 0, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.index), t.evicted
}

// nilIndex ends the rate table's recency list.
const nilIndex = -1
