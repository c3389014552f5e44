package udpserver

import (
	"net/netip"
	"sync"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// dedupKey names one exchange: the sender's address and port and the
// message ID it chose. It is comparable, so it keys a map without
// allocating.
type dedupKey struct {
	addr netip.AddrPort
	id   uint64
}

// dedupState is what the table knows about an exchange.
type dedupState uint8

const (
	dedupNew     dedupState = iota // first sight: the caller runs the handler, then calls finish
	dedupRunning                   // the handler for this exchange is still running: drop
	dedupDone                      // handled: repeat the stored reply
	dedupFull                      // no room without forgetting a running exchange: refuse (NACK busy)
)

// dedupEntry is one remembered exchange. Entries live in a slice and are
// linked by index into two lists: the age list of the whole table (oldest
// first, which is also expiry order because every entry lives for the same
// window from its insertion) and the list of its source address.
type dedupEntry struct {
	key    dedupKey
	at     int64 // when the first copy arrived, server clock in ns
	state  dedupState
	code   wire.Code // wire.CodeNone for an ACK
	reason string    // NACK text
	prev   int32     // age list
	next   int32
	sprev  int32 // source list
	snext  int32
}

// srcList is the list of one source address's entries, oldest first.
type srcList struct {
	head, tail int32
	n          int32
}

const nilIndex = -1

// dedupTable remembers exchanges for a window, bounded in total and per
// source address. Its slots are reused, so once it has grown to its
// working size it does not allocate.
type dedupTable struct {
	mu        sync.Mutex
	window    int64
	max       int
	perSource int32

	index   map[dedupKey]int32
	sources map[netip.Addr]srcList
	entries []dedupEntry
	free    int32 // first free slot, linked through next
	head    int32 // oldest entry
	tail    int32 // newest entry

	// Counters, read under mu.
	evicted uint64 // entries pushed out early by either cap
	expired uint64 // entries that lived their whole window
}

func newDedupTable(maxEntries, perSource int, window time.Duration) *dedupTable {
	return &dedupTable{
		window:    window.Nanoseconds(),
		max:       maxEntries,
		perSource: int32(perSource),
		index:     make(map[dedupKey]int32),
		sources:   make(map[netip.Addr]srcList),
		free:      nilIndex,
		head:      nilIndex,
		tail:      nilIndex,
	}
}

// begin looks key up at time now. For a new exchange it records it as
// running and returns dedupNew; for a known one it returns its state and,
// when done, the reply to repeat.
func (t *dedupTable) begin(key dedupKey, now int64) (dedupState, wire.Code, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(now)
	if i, ok := t.index[key]; ok {
		e := &t.entries[i]
		if e.state == dedupDone && e.code == wire.CodeBusy {
			// NACK busy is not an answer to repeat: the handler did not
			// take the message, so its retransmission runs it again.
			e.state = dedupRunning
			return dedupNew, 0, ""
		}
		return e.state, e.code, e.reason
	}
	src := key.addr.Addr()
	sl, ok := t.sources[src]
	// Make room by forgetting the oldest entry, but never one whose
	// handler is still running: its retransmission would run the handler
	// a second time. Then the new message is refused instead (the client
	// retries later), which happens only when a source has more messages
	// in its handlers at once than the per-source cap.
	if ok && sl.n >= t.perSource {
		if t.entries[sl.head].state == dedupRunning {
			return dedupFull, 0, ""
		}
		t.evicted++
		t.remove(sl.head)
	}
	if len(t.index) >= t.max {
		if t.entries[t.head].state == dedupRunning {
			return dedupFull, 0, ""
		}
		t.evicted++
		t.remove(t.head)
	}
	i := t.alloc()
	e := &t.entries[i]
	*e = dedupEntry{key: key, at: now, state: dedupRunning, prev: t.tail, next: nilIndex, snext: nilIndex}
	if t.tail != nilIndex {
		t.entries[t.tail].next = i
	} else {
		t.head = i
	}
	t.tail = i
	sl, ok = t.sources[src] // remove may have changed or deleted it
	if !ok {
		sl = srcList{head: nilIndex, tail: nilIndex}
	}
	e.sprev = sl.tail
	if sl.tail != nilIndex {
		t.entries[sl.tail].snext = i
	} else {
		sl.head = i
	}
	sl.tail = i
	sl.n++
	t.sources[src] = sl
	t.index[key] = i
	return dedupNew, 0, ""
}

// finish records the reply of an exchange begin returned dedupNew for.
// An entry that was evicted meanwhile stays forgotten.
func (t *dedupTable) finish(key dedupKey, code wire.Code, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.index[key]; ok && t.entries[i].state == dedupRunning {
		e := &t.entries[i]
		e.state, e.code, e.reason = dedupDone, code, reason
	}
}

// expire removes the entries older than the window. Entries are in age
// order, so it stops at the first young one.
func (t *dedupTable) expire(now int64) {
	for t.head != nilIndex && now-t.entries[t.head].at >= t.window {
		t.expired++
		t.remove(t.head)
	}
}

// alloc returns a free slot, growing the slice while under the cap.
func (t *dedupTable) alloc() int32 {
	if t.free != nilIndex {
		i := t.free
		t.free = t.entries[i].next
		return i
	}
	t.entries = append(t.entries, dedupEntry{})
	return int32(len(t.entries) - 1)
}

// remove unlinks entry i from both lists and the index and frees its slot.
func (t *dedupTable) remove(i int32) {
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
	src := e.key.addr.Addr()
	sl := t.sources[src]
	if e.sprev != nilIndex {
		t.entries[e.sprev].snext = e.snext
	} else {
		sl.head = e.snext
	}
	if e.snext != nilIndex {
		t.entries[e.snext].sprev = e.sprev
	} else {
		sl.tail = e.sprev
	}
	if sl.n--; sl.n <= 0 {
		delete(t.sources, src)
	} else {
		t.sources[src] = sl
	}
	delete(t.index, e.key)
	*e = dedupEntry{next: t.free}
	t.free = i
}

// len returns the number of remembered exchanges.
func (t *dedupTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.index)
}

// counts returns the eviction and expiry counters.
func (t *dedupTable) counts() (evicted, expired uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.evicted, t.expired
}
