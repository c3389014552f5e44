package udpserver

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/udpkit/udpkit/wire"
)

// The model of the de-duplication table: a plain map that never forgets an
// exchange within its window. The table must agree with it on every
// remembered exchange, and may refuse a new one only when the model says
// a cap is reached.
type dedupModel struct {
	window                int64
	max, perPort, perHost int
	m                     map[dedupKey]*modelEntry
}

type modelEntry struct {
	at     int64
	state  dedupState
	code   wire.Code
	proved bool // counted in the proved shares
}

// shareKey names one share: a sender's or a host's, proved or claimed.
type shareKey struct {
	who    [18]byte
	proved bool
}

func (m *dedupModel) live(now int64) (n int, port, host map[shareKey]int) {
	port, host = map[shareKey]int{}, map[shareKey]int{}
	for k, e := range m.m {
		if now-e.at >= m.window {
			delete(m.m, k)
			continue
		}
		n++
		port[senderOf(k, e.proved)]++
		host[hostOf(k, e.proved)]++
	}
	return n, port, host
}

func senderOf(k dedupKey, proved bool) shareKey {
	var s [18]byte
	copy(s[:], k.addr[:])
	s[16], s[17] = byte(k.port>>8), byte(k.port)
	return shareKey{s, proved}
}

func hostOf(k dedupKey, proved bool) shareKey {
	var s [18]byte
	copy(s[:], k.addr[:])
	if !netip.AddrFrom16(k.addr).Is4In6() {
		clear(s[8:16]) // the /64
	}
	return shareKey{s, proved}
}

// modelHosts are the senders' addresses: two IPv4 hosts, and two IPv6
// addresses of one /64 (one host).
var modelHosts = []netip.Addr{
	netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"),
	netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"),
}

// runDedupModel interprets ops, three bytes an operation, against the table
// and the model, and fails at the first disagreement. A datagram's sender
// byte picks the host, the port and whether it echoed a valid cookie.
func runDedupModel(t *testing.T, ops []byte) {
	const window = 1000
	m := &dedupModel{window: window, max: 18, perPort: 4, perHost: 7, m: map[dedupKey]*modelEntry{}}
	tab := newDedupTable(m.max, m.perPort, m.perHost, window)
	var now int64
	var running []dedupKey
	for i := 0; i+3 <= len(ops); i += 3 {
		op, who, id := ops[i], ops[i+1], ops[i+2]
		now += int64(op>>2) / 16 // a few ticks; a window is ~500 operations
		key := makeDedupKey(netip.AddrPortFrom(modelHosts[who&3], 1000+uint16(who>>2&3)), uint64(id&31))
		proved := who&16 != 0
		switch op & 3 {
		case 0, 1: // a datagram: new message or retransmission
			n, port, host := m.live(now)
			st, code, reason := tab.begin(key, now, proved)
			if e, ok := m.m[key]; ok {
				if st != e.state || (st == dedupDone && code != e.code) {
					t.Fatalf("op %d at %d: %v remembered as %v/%v, table says %v/%v", i/3, now, key, e.state, e.code, st, code)
				}
				continue
			}
			// A new exchange: refused over the table's cap, over a share
			// of its kind (a claimed share answers dedupUnproved), else
			// admitted. Proved and claimed shares never count each other.
			want := dedupNew
			ps, ph := port[senderOf(key, proved)], host[hostOf(key, proved)]
			switch {
			case n >= m.max:
				want = dedupFull
			case ps >= m.perPort || ph >= m.perHost:
				want = dedupFull
				if !proved {
					want = dedupUnproved
				}
			}
			if st != want {
				t.Fatalf("op %d at %d: new %v (proved %v): table says %v (%q), want %v (%d entries, sender %d, host %d)",
					i/3, now, key, proved, st, reason, want, n, ps, ph)
			}
			switch st {
			case dedupUnproved:
				tab.refuse(reason, who&32 != 0) // a cookie NACK or busy: only counted
			case dedupNew:
				m.m[key] = &modelEntry{at: now, state: dedupRunning, proved: proved}
				running = append(running, key)
			}
		case 2: // a handler returns
			if len(running) == 0 {
				continue
			}
			j := int(id) % len(running)
			k := running[j]
			running = append(running[:j], running[j+1:]...)
			code := wire.Code(who % 3)
			tab.finish(k, code, "")
			if e, ok := m.m[k]; ok && now-e.at < window {
				e.state, e.code = dedupDone, code
			}
		case 3: // a long pause
			now += int64(id) * window / 256
		}
		if err := tab.check(); err != nil {
			t.Fatalf("op %d: %v", i/3, err)
		}
	}
}

// TestDedupModel runs random interleavings of new messages,
// retransmissions, handler returns and time against the model.
func TestDedupModel(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 13))
		ops := make([]byte, 3*2000)
		for i := range ops {
			ops[i] = byte(r.Uint32())
		}
		runDedupModel(t, ops)
	}
}

// FuzzDedupTable is TestDedupModel driven by the fuzzer.
func FuzzDedupTable(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 0, 1, 2, 0, 0, 0, 0, 1})
	f.Add([]byte{4, 1, 2, 8, 5, 3, 3, 0, 0, 0, 1, 2, 200, 7, 3})
	f.Fuzz(runDedupModel)
}
