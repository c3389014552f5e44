package auth

import (
	"errors"
	"sync"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// Replay protection (PROTOCOL.md section 5): a datagram is accepted only if
// its time is within the clock-skew bound of the receiver's clock, and its
// counter was not accepted before from the same (key ID, sender ID) and is
// not too far behind the highest one accepted from it: a sliding window of
// WindowSize counters kept as a bitmap, as RFC 6479 describes it and
// WireGuard and IPsec use it.
const (
	// WindowSize is the width of a sender's replay window: a counter c is
	// accepted (once) only if highest - c < WindowSize, where highest is the
	// highest counter accepted from that sender, so a datagram reordered by
	// fewer than WindowSize datagrams still gets through. The ring holds one
	// 64-bit block more, so that sliding clears whole blocks (RFC 6479
	// section 2).
	WindowSize = ringBits - 64

	windowWords = 32 // a ring of 32 × 64 = 2048 bits, 256 bytes a sender
	ringBits    = windowWords * 64
	sweepEvery  = 100            // ms between two sweeps of a full table
	maxSkew     = 24 * time.Hour // larger skew bounds are capped
	defaultSkew = 30 * time.Second
	defaultMax  = 4096
)

// Errors of Replay.Check and Receiver.Verify, returned unwrapped.
var (
	// ErrClock reports a datagram stamped further from the receiver's clock
	// than the skew bound (too old or too far ahead), or before the
	// receiver's NotBefore.
	ErrClock = errors.New("auth: timestamp outside the accepted clock skew")
	// ErrReplay reports a counter already accepted from this sender: the
	// datagram is a replay (or a copy the network duplicated).
	ErrReplay = errors.New("auth: replayed datagram")
	// ErrTooOld reports a counter more than WindowSize behind the highest
	// accepted from this sender: it can no longer be told from a replay.
	ErrTooOld = errors.New("auth: counter behind the replay window")
	// ErrTooManySenders reports a new sender while the table of senders is
	// full of senders that may still send (none can be forgotten safely).
	ErrTooManySenders = errors.New("auth: too many senders")
)

// window is the replay window of one sender.
type window struct {
	top     uint64 // highest counter accepted
	maxTime uint64 // newest time accepted, ms
	bits    [windowWords]uint64
}

// accept records counter c, or reports why it cannot be accepted.
func (w *window) accept(c uint64) error {
	if c > w.top {
		// Slide: clear the blocks between the old top's and c's, at most
		// the whole ring. c's block is among them unless it is the top's,
		// whose bits above the top were never set.
		cur, idx := w.top/64, c/64
		n := idx - cur
		if n > windowWords {
			n = windowWords
		}
		for i := uint64(1); i <= n; i++ {
			w.bits[(cur+i)%windowWords] = 0
		}
		w.top = c
	} else if w.top-c >= WindowSize {
		return ErrTooOld
	}
	word, bit := &w.bits[(c/64)%windowWords], uint64(1)<<(c%64)
	if *word&bit != 0 {
		return ErrReplay
	}
	*word |= bit
	return nil
}

// ReplayConfig configures a Replay. The zero value works.
type ReplayConfig struct {
	// Skew is how far a datagram's time may be from the receiver's clock,
	// either way. Default 30 s: enough for clocks kept by NTP or set by
	// hand within a few seconds, short enough that a replay of a datagram
	// whose sender was forgotten is refused as stale. Capped at 24 h.
	Skew time.Duration
	// MaxSenders bounds the table of sender windows (about 300 bytes each).
	// A sender is forgotten only once every datagram it may have sent is
	// stale (older than Skew), so when the table is full of live senders a
	// new one is refused (ErrTooManySenders). Default 4096 (1.2 MiB).
	MaxSenders int
	// NotBefore refuses datagrams stamped before it. A receiver that acts
	// on messages (a server) sets it to its start time, so that datagrams
	// captured before a restart, which its fresh table does not know, cannot
	// be replayed to it; a peer whose clock lags by d is then refused during
	// the first d after the restart. A client, whose replies only complete
	// requests it has pending, leaves it zero (no bound).
	NotBefore time.Time
	// Now is the receiver's clock. Nil means time.Now.
	Now func() time.Time
}

// senderKey names one sequence of counters.
type senderKey struct {
	key    uint16
	sender uint64
}

// Replay is the replay filter of one receiver: a sliding window per (key
// ID, sender ID) and the clock-skew bound. It is safe for concurrent use.
type Replay struct {
	skew      uint64 // ms
	notBefore uint64 // ms
	max       int
	now       func() time.Time

	mu        sync.Mutex
	lastNow   uint64 // highest clock reading: the clock never goes back here
	lastSweep uint64
	senders   map[senderKey]*window
	free      []*window // windows of forgotten senders, for reuse
}

// DefaultReplayConfig returns the defaults of a ReplayConfig spelled out
// (udpkit's convention: NewReplay(DefaultReplayConfig()) and
// NewReplay(ReplayConfig{}) behave the same). NotBefore stays zero (no
// bound) and Now nil (time.Now).
func DefaultReplayConfig() ReplayConfig {
	return ReplayConfig{Skew: defaultSkew, MaxSenders: defaultMax}
}

// NewReplay returns a Replay configured by cfg.
func NewReplay(cfg ReplayConfig) *Replay {
	r := &Replay{now: cfg.Now, max: cfg.MaxSenders}
	skew := cfg.Skew
	if skew <= 0 {
		skew = defaultSkew
	}
	r.skew = uint64(min(skew, maxSkew).Milliseconds())
	if !cfg.NotBefore.IsZero() {
		r.notBefore = unixMilli(cfg.NotBefore)
	}
	if r.max <= 0 {
		r.max = defaultMax
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.senders = make(map[senderKey]*window, min(r.max, 256))
	return r
}

// Check accepts the freshness fields f of a datagram whose tag was verified
// with key keyID, or reports why it is refused: ErrClock, ErrReplay,
// ErrTooOld or ErrTooManySenders. Call it only after the tag matched
// (Keyring.Open), so that forged datagrams cannot move a window; a refused
// datagram changes nothing. Check allocates only when it meets a new sender.
func (r *Replay) Check(keyID uint16, f wire.Freshness) error {
	now := unixMilli(r.now())
	r.mu.Lock()
	defer r.mu.Unlock()
	// A clock stepped backwards would reopen the time range of forgotten
	// senders; use the highest reading seen instead (fail closed).
	if now < r.lastNow {
		now = r.lastNow
	}
	r.lastNow = now
	if f.Time+r.skew < now || f.Time > now+r.skew || f.Time < r.notBefore {
		return ErrClock
	}
	k := senderKey{keyID, f.Sender}
	w := r.senders[k]
	if w == nil {
		if len(r.senders) >= r.max && !r.sweep(now) {
			return ErrTooManySenders
		}
		if n := len(r.free); n > 0 {
			w, r.free = r.free[n-1], r.free[:n-1]
			*w = window{}
		} else {
			w = new(window)
		}
		if err := w.accept(f.Counter); err != nil {
			return err // cannot happen on an empty window
		}
		w.maxTime = f.Time
		r.senders[k] = w
		return nil
	}
	if err := w.accept(f.Counter); err != nil {
		return err
	}
	w.maxTime = max(w.maxTime, f.Time)
	return nil
}

// sweep forgets the senders whose every accepted datagram is stale (its
// replay would fail the clock check anyway), at most every sweepEvery ms,
// and reports whether there is room for a new sender.
func (r *Replay) sweep(now uint64) bool {
	if now-r.lastSweep < sweepEvery && r.lastSweep != 0 {
		return false
	}
	r.lastSweep = now
	for k, w := range r.senders {
		if w.maxTime+r.skew < now {
			delete(r.senders, k)
			r.free = append(r.free, w)
		}
	}
	return len(r.senders) < r.max
}

// Senders returns the number of senders the filter tracks.
func (r *Replay) Senders() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.senders)
}

// Message is an authenticated datagram that passed Receiver.Verify.
type Message struct {
	Header    wire.Header
	Body      []byte // a sub-slice of the datagram
	Freshness wire.Freshness
}

// Receiver verifies incoming authenticated datagrams: the tag (Keyring.Open)
// and then freshness (Replay.Check). It is safe for concurrent use.
type Receiver struct {
	keys   *Keyring
	replay *Replay
}

// NewReceiver returns a Receiver that verifies with keys and filters
// replays as cfg says.
func NewReceiver(keys *Keyring, cfg ReplayConfig) *Receiver {
	return &Receiver{keys: keys, replay: NewReplay(cfg)}
}

// Keys returns the receiver's keyring.
func (r *Receiver) Keys() *Keyring { return r.keys }

// Senders returns the number of senders whose replay windows it keeps.
func (r *Receiver) Senders() int { return r.replay.Senders() }

// Verify accepts the authenticated datagram b, or reports why not: a wire
// error (malformed, wire.ErrNotAuth for an unauthenticated datagram),
// ErrUnknownKey, ErrBadTag, ErrClock, ErrReplay, ErrTooOld or
// ErrTooManySenders. The cheap checks come first and the tag before any
// table is touched. On a known sender it does not allocate.
func (r *Receiver) Verify(b []byte) (Message, error) {
	h, body, f, err := r.keys.Open(b)
	if err != nil {
		return Message{}, err
	}
	if err := r.replay.Check(h.KeyID, f); err != nil {
		return Message{}, err
	}
	return Message{Header: h, Body: body, Freshness: f}, nil
}
