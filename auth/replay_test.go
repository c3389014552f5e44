package auth

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

func TestWindow(t *testing.T) {
	const W = WindowSize
	type step struct {
		c   uint64
		err error
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{1, nil}, {2, nil}, {3, nil}, {4, nil}}},
		{"first counter any value", []step{{1 << 40, nil}, {1<<40 + 1, nil}, {1<<40 - 1, nil}}},
		{"counter zero", []step{{0, nil}, {0, ErrReplay}, {1, nil}}},
		{"reordered within the window", []step{{5, nil}, {3, nil}, {4, nil}, {1, nil}, {2, nil}, {6, nil}}},
		{"duplicated", []step{{1, nil}, {2, nil}, {2, ErrReplay}, {1, ErrReplay}, {3, nil}, {3, ErrReplay}}},
		{"duplicated after reordering", []step{{10, nil}, {7, nil}, {7, ErrReplay}, {10, ErrReplay}}},
		{"oldest in the window", []step{{W, nil}, {1, nil}, {0, ErrTooOld}}},
		{"too old", []step{{W + 100, nil}, {101, nil}, {100, ErrTooOld}, {99, ErrTooOld}}},
		{"far ahead", []step{{1, nil}, {2, nil}, {1_000_000, nil}, {1_000_000, ErrReplay}, {3, ErrTooOld}, {999_999, nil}, {1_000_000 - W + 1, nil}, {1_000_000 - W, ErrTooOld}}},
		{"ahead by exactly the ring", []step{{64, nil}, {64 + ringBits, nil}, {64 + ringBits - 1, nil}, {64, ErrTooOld}}},
		{"ahead by one block, bits of the old block cleared", []step{{63, nil}, {62, nil}, {63 + ringBits - 64, nil}, {62 + ringBits - 64, nil}, {62, ErrTooOld}}},
		{"slide by one each time, old replayed", func() []step {
			var s []step
			for c := uint64(1); c <= 3*ringBits; c++ {
				s = append(s, step{c, nil})
				if c > W {
					s = append(s, step{c - W + 1, ErrReplay}, step{c - W, ErrTooOld})
				}
			}
			return s
		}()},
		{"largest counter", []step{{1<<64 - 1, nil}, {1<<64 - 2, nil}, {1<<64 - 1, ErrReplay}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w window
			for i, s := range tt.steps {
				if err := w.accept(s.c); err != s.err {
					t.Fatalf("step %d: accept(%d) = %v, want %v", i, s.c, err, s.err)
				}
			}
		})
	}
}

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func ms(t time.Time) uint64 { return uint64(t.UnixMilli()) }

func TestReplayCheck(t *testing.T) {
	clock := &fakeClock{vectorTime}
	start := vectorTime
	r := NewReplay(ReplayConfig{Skew: 10 * time.Second, NotBefore: start.Add(-5 * time.Second), Now: clock.now})
	f := func(sender, counter uint64, at time.Time) wire.Freshness {
		return wire.Freshness{Sender: sender, Counter: counter, Time: ms(at)}
	}
	steps := []struct {
		name    string
		advance time.Duration
		key     uint16
		f       wire.Freshness
		err     error
	}{
		{"first", 0, 7, f(1, 1, start), nil},
		{"replay", 0, 7, f(1, 1, start), ErrReplay},
		{"replay 5 s later", 5 * time.Second, 7, f(1, 1, start), ErrReplay},
		{"same counter, other sender", 0, 7, f(2, 1, start), nil},
		{"same counter and sender, other key", 0, 6, f(1, 1, start), nil},
		{"next", 0, 7, f(1, 2, start.Add(5*time.Second)), nil},
		{"at the skew bound behind", 0, 7, f(1, 3, start.Add(-5*time.Second)), nil},
		{"1 ms beyond the skew bound behind", 0, 7, f(1, 4, start.Add(-5*time.Second-time.Millisecond)), ErrClock},
		{"at the skew bound ahead", 0, 7, f(1, 5, start.Add(15*time.Second)), nil},
		{"1 ms beyond the skew bound ahead", 0, 7, f(1, 6, start.Add(15*time.Second+time.Millisecond)), ErrClock},
		{"refused counter not consumed", 0, 7, f(1, 6, start.Add(5*time.Second)), nil},
		{"replay 150 s later", 145 * time.Second, 7, f(1, 1, start), ErrClock},
		{"before NotBefore", 0, 7, f(3, 1, start.Add(-5*time.Second-time.Millisecond)), ErrClock},
	}
	for _, s := range steps {
		clock.t = clock.t.Add(s.advance)
		if err := r.Check(s.key, s.f); err != s.err {
			t.Fatalf("%s: Check = %v, want %v", s.name, err, s.err)
		}
	}
}

func TestReplayNotBefore(t *testing.T) {
	clock := &fakeClock{vectorTime}
	r := NewReplay(ReplayConfig{NotBefore: vectorTime, Now: clock.now})
	if err := r.Check(1, wire.Freshness{Sender: 1, Counter: 1, Time: ms(vectorTime) - 1}); err != ErrClock {
		t.Errorf("1 ms before NotBefore: %v", err)
	}
	if err := r.Check(1, wire.Freshness{Sender: 1, Counter: 1, Time: ms(vectorTime)}); err != nil {
		t.Errorf("at NotBefore: %v", err)
	}
}

// A receiver clock stepped back does not reopen the past.
func TestReplayClockBack(t *testing.T) {
	clock := &fakeClock{vectorTime}
	r := NewReplay(ReplayConfig{Skew: 10 * time.Second, MaxSenders: 1, Now: clock.now})
	old := wire.Freshness{Sender: 1, Counter: 1, Time: ms(vectorTime)}
	if err := r.Check(1, old); err != nil {
		t.Fatal(err)
	}
	clock.t = clock.t.Add(time.Minute)
	// Sender 2 takes the only slot, sender 1 is forgotten: stale.
	if err := r.Check(1, wire.Freshness{Sender: 2, Counter: 1, Time: ms(clock.t)}); err != nil {
		t.Fatal(err)
	}
	clock.t = vectorTime // stepped back a minute
	if err := r.Check(1, old); err != ErrClock {
		t.Errorf("replay after the clock stepped back: %v, want ErrClock", err)
	}
}

func TestReplayTableFull(t *testing.T) {
	clock := &fakeClock{vectorTime}
	r := NewReplay(ReplayConfig{Skew: 10 * time.Second, MaxSenders: 2, Now: clock.now})
	at := func(sender, counter uint64) wire.Freshness {
		return wire.Freshness{Sender: sender, Counter: counter, Time: ms(clock.t)}
	}
	for s := uint64(1); s <= 2; s++ {
		if err := r.Check(1, at(s, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Check(1, at(3, 1)); err != ErrTooManySenders {
		t.Fatalf("third sender: %v, want ErrTooManySenders", err)
	}
	// Sender 1 stays live; sender 2 goes quiet beyond the skew.
	clock.t = clock.t.Add(6 * time.Second)
	if err := r.Check(1, at(1, 2)); err != nil {
		t.Fatal(err)
	}
	clock.t = clock.t.Add(6 * time.Second)
	if err := r.Check(1, at(3, 1)); err != nil {
		t.Fatalf("third sender once the second is stale: %v", err)
	}
	if r.Senders() != 2 {
		t.Errorf("%d senders, want 2", r.Senders())
	}
	// The known sender is still known: its old datagram is a replay.
	if err := r.Check(1, wire.Freshness{Sender: 1, Counter: 2, Time: ms(clock.t.Add(-6 * time.Second))}); err != ErrReplay {
		t.Errorf("replay of a live sender: %v", err)
	}
	// Sweeps are rate-limited: a full table of live senders is not scanned
	// for every new sender.
	if err := r.Check(1, at(4, 1)); err != ErrTooManySenders {
		t.Fatalf("fourth sender: %v", err)
	}
	clock.t = clock.t.Add(50 * time.Millisecond)
	if err := r.Check(1, at(4, 1)); err != ErrTooManySenders || r.lastSweep != ms(clock.t.Add(-50*time.Millisecond)) {
		t.Fatalf("fourth sender 50 ms later: %v, last sweep %d", err, r.lastSweep)
	}
}

// The receiver refuses a replay from another address just like one from
// the same: addresses are not part of it at all. Verify wires Open and
// Check together.
func TestReceiverVerify(t *testing.T) {
	kr := testKeyring(t)
	clock := &fakeClock{vectorTime}
	s, _ := NewSender(kr, SenderConfig{Now: clock.now})
	r := NewReceiver(kr, ReplayConfig{Now: clock.now})
	d, _ := s.Sign(wire.AppendData(nil, 1, []byte("x")))
	m, err := r.Verify(d)
	if err != nil || string(m.Body) != "x" || m.Header.ID != 1 || m.Freshness.Sender != s.ID() {
		t.Fatalf("Verify = %+v, %v", m, err)
	}
	if _, err := r.Verify(d); err != ErrReplay {
		t.Errorf("replay: %v", err)
	}
	// A retransmission is signed again and accepted (the de-duplication
	// table, not the replay filter, keeps the handler from running twice).
	d2, _ := s.Sign(wire.AppendData(nil, 1, []byte("x")))
	if m, err := r.Verify(d2); err != nil || m.Header.ID != 1 {
		t.Errorf("retransmission: %v", err)
	}
	clock.t = clock.t.Add(150 * time.Second)
	if _, err := r.Verify(d); err != ErrClock {
		t.Errorf("replay 150 s later: %v", err)
	}
	bad := append([]byte(nil), d...)
	bad[len(bad)-1] ^= 1
	if _, err := r.Verify(bad); err != ErrBadTag {
		t.Errorf("bad tag: %v", err)
	}
	if _, err := r.Verify(wire.AppendData(nil, 1, []byte("x"))); !errors.Is(err, wire.ErrNotAuth) {
		t.Errorf("unauthenticated: %v", err)
	}
}

// replayModel is the specification of Replay with an unbounded table: a
// datagram is accepted iff its time is within the skew of the (never
// decreasing) clock and its counter was never accepted from its (key,
// sender) and is less than WindowSize below the highest one accepted.
type replayModel struct {
	skew     uint64
	now      uint64
	accepted map[senderKey]map[uint64]bool
	top      map[senderKey]uint64
}

func (m *replayModel) check(now uint64, key uint16, f wire.Freshness) error {
	m.now = max(m.now, now)
	if f.Time+m.skew < m.now || f.Time > m.now+m.skew {
		return ErrClock
	}
	k := senderKey{key, f.Sender}
	if m.accepted[k] == nil {
		m.accepted[k] = map[uint64]bool{}
	}
	seen := m.accepted[k]
	if len(seen) > 0 && f.Counter <= m.top[k] && m.top[k]-f.Counter >= WindowSize {
		return ErrTooOld
	}
	if seen[f.Counter] {
		return ErrReplay
	}
	seen[f.Counter] = true
	m.top[k] = max(m.top[k], f.Counter)
	return nil
}

// FuzzReplay drives Replay with a random stream of datagrams (new ones and
// replays of earlier ones, from a few senders, with the clock moving) and
// checks it against replayModel. With a table of one sender (senders get
// forgotten) it checks the property that matters: no datagram is ever
// accepted twice.
func FuzzReplay(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 2, 0, 0, 1, 0, 0, 0, 0})
	f.Add([]byte{0, 200, 3, 1, 255, 9, 2, 3, 200, 0, 1, 1, 0, 3, 3, 3})
	f.Add([]byte{0, 255, 255, 1, 255, 255, 2, 1, 1, 0, 0, 5})
	f.Fuzz(func(t *testing.T, input []byte) {
		const skew = 10_000 // ms
		for _, maxSenders := range []int{1000, 1} {
			ops := input
			now := ms(vectorTime)
			clock := func() time.Time { return time.UnixMilli(int64(now)) }
			r := NewReplay(ReplayConfig{Skew: skew * time.Millisecond, MaxSenders: maxSenders, Now: clock})
			model := &replayModel{skew: skew, accepted: map[senderKey]map[uint64]bool{}, top: map[senderKey]uint64{}}
			type dgram struct {
				key uint16
				f   wire.Freshness
			}
			var sent []dgram
			next := map[senderKey]uint64{}
			accepted := map[dgram]bool{}
			for len(ops) >= 4 {
				op, a, b, c := ops[0], ops[1], ops[2], ops[3]
				ops = ops[4:]
				var d dgram
				switch op % 4 {
				case 0, 1: // a new datagram of sender a%3 (key a/3%2), counter jump b, time offset c
					k := senderKey{uint16(a / 3 % 2), uint64(a % 3)}
					jump := uint64(b)
					if op%4 == 1 {
						jump = uint64(b) * 64 // big jumps
					}
					next[k] += 1 + jump
					d = dgram{k.key, wire.Freshness{Sender: k.sender, Counter: next[k], Time: now + uint64(c)*100 - 12_800}}
					if b%5 == 0 && next[k] > uint64(c) { // sometimes an old, never sent counter
						d.f.Counter = next[k] - uint64(c)
					}
				case 2: // a replay of an earlier datagram
					if len(sent) == 0 {
						continue
					}
					d = sent[int(binary.BigEndian.Uint16([]byte{a, b}))%len(sent)]
				case 3: // time passes
					now += uint64(a) * uint64(b) * 10
					continue
				}
				sent = append(sent, d)
				got := r.Check(d.key, d.f)
				if got == nil {
					if accepted[d] {
						t.Fatalf("max %d: %+v accepted twice", maxSenders, d)
					}
					accepted[d] = true
				}
				if maxSenders == 1000 {
					if want := model.check(now, d.key, d.f); got != want {
						t.Fatalf("Check(%+v) at %d = %v, model says %v", d, now, got, want)
					}
				}
			}
		}
	})
}

// Several goroutines verify at once (a server with several sockets): every
// datagram is accepted exactly once, whichever goroutine sees it first.
func TestReceiverConcurrent(t *testing.T) {
	kr := testKeyring(t)
	r := NewReceiver(kr, ReplayConfig{})
	var msgs [][]byte
	for range 4 {
		s, _ := NewSender(kr, SenderConfig{})
		for i := range 500 {
			b, _ := s.Sign(wire.AppendData(nil, uint64(i), []byte("x")))
			msgs = append(msgs, b)
		}
	}
	accepted := make([]atomic.Int32, len(msgs))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			// Each goroutine sees every datagram, in its own order: three
			// of the four copies of each are replays.
			for i := range msgs {
				j := (i + g*len(msgs)/4) % len(msgs)
				if _, err := r.Verify(msgs[j]); err == nil {
					accepted[j].Add(1)
				} else if err != ErrReplay {
					t.Errorf("datagram %d: %v", j, err)
				}
			}
		})
	}
	wg.Wait()
	for i := range accepted {
		if n := accepted[i].Load(); n != 1 { // 500 counters a sender: all within the window
			t.Fatalf("datagram %d accepted %d times", i, n)
		}
	}
}
