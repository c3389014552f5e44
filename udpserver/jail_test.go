package udpserver

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/internal/netaddr"
	"github.com/udpkit/udpkit/internal/sockopt"
	"github.com/udpkit/udpkit/wire"
)

// TestJailKey: the key of the per-datagram path is the key the program
// matches (netaddr.HostKey): IPv4 and IPv4-mapped alike, an IPv6 /64
// whatever its interface ID and zone, and distinct sources distinct.
func TestJailKey(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"198.18.0.1", "::ffff:198.18.0.1"},
		{"fd18::1", "fd18::ffff:ffff:ffff:ffff"},
		{"fe80::1%eth0", "fe80::2"},
		{"::1", "::2"},
	} {
		ka, kb := jailKeyOf(netip.MustParseAddr(tc.a)), jailKeyOf(netip.MustParseAddr(tc.b))
		if ka != kb {
			t.Errorf("%s and %s: keys %v and %v, want one", tc.a, tc.b, ka, kb)
		}
		if got, want := ka.addr(), netaddr.HostKey(netip.MustParseAddr(tc.a)); got != want {
			t.Errorf("%s: key address %v, netaddr.HostKey %v", tc.a, got, want)
		}
	}
	distinct := []string{"198.18.0.1", "198.18.0.2", "0.0.0.0", "::", "fd18::", "fd18:0:0:1::", "fd19::", "0:0:c612:1::", "0:ffff:c612:1::"}
	seen := map[jailKey]string{}
	for _, a := range distinct {
		k := jailKeyOf(netip.MustParseAddr(a))
		if o, ok := seen[k]; ok {
			t.Errorf("%s and %s share key %v", a, o, k)
		}
		seen[k] = a
	}
	if s := jailKeyOf(netip.MustParseAddr("fd18:0:0:5::9")).String(); s != "fd18:0:0:5::/64" {
		t.Errorf("String() = %q", s)
	}
	if s := jailKeyOf(netip.MustParseAddr("::ffff:198.18.0.1")).String(); s != "198.18.0.1" {
		t.Errorf("String() = %q", s)
	}
}

// reusePortGroup opens n SO_REUSEPORT sockets on one 127.0.0.1 port.
func reusePortGroup(t *testing.T, n int) []*net.UDPConn {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error { return sockopt.ReusePort(c) }}
	socks := make([]*net.UDPConn, n)
	for i := range socks {
		addr := "127.0.0.1:0"
		if i > 0 {
			addr = socks[0].LocalAddr().String()
		}
		pc, err := lc.ListenPacket(context.Background(), "udp4", addr)
		if err != nil {
			t.Skipf("SO_REUSEPORT group: %v", err)
		}
		t.Cleanup(func() { pc.Close() })
		socks[i] = pc.(*net.UDPConn)
	}
	return socks
}

// TestJailTable: a heavy source is jailed once (again: refreshed), the
// table holds maxJailed sources and makes room by releasing the one heavy
// least recently, and a sweep releases exactly the sources not heavy for
// the hold time; the attached program follows every change.
func TestJailTable(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_ATTACH_REUSEPORT_CBPF is Linux's")
	}
	var logs bytes.Buffer
	var clock int64
	s := &Server{Logger: slog.New(slog.NewTextHandler(&logs, nil)), jailHold: time.Hour}
	s.clock = func() int64 { return clock }
	s.init()
	socks := reusePortGroup(t, 3)
	rc, _ := socks[0].SyscallConn()
	g := newJailGroup(s, rc, 2, 0x9e3779b1)
	defer g.close()
	src := func(i int) jailKey { return jailKeyOf(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})) }
	for i := range maxJailed {
		clock = int64(i) * int64(time.Second)
		g.heavy([]jailKey{src(i)}, false)
	}
	g.heavy([]jailKey{src(0)}, false) // refresh: src(1) is now the heavy least recently
	g.heavy([]jailKey{src(1000)}, true)
	if n, total := g.counts(); n != maxJailed || total != maxJailed {
		t.Fatalf("after %d sources: %d jailed, %d total", maxJailed, n, total)
	}
	clock += int64(time.Second)
	g.heavy([]jailKey{src(maxJailed)}, false)
	n, total := g.counts()
	if n != maxJailed || total != maxJailed+1 {
		t.Fatalf("full jail: %d jailed, %d total", n, total)
	}
	in := func(k jailKey) bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.spread().Index(k.addr()) == 2
	}
	if in(src(1)) || !in(src(0)) || !in(src(2)) || !in(src(maxJailed)) || in(src(1000)) {
		t.Errorf("jail full: src 0 %v, 1 %v, 2 %v, %d %v, 1000 (only seen on the quarantine socket) %v",
			in(src(0)), in(src(1)), in(src(2)), maxJailed, in(src(maxJailed)), in(src(1000)))
	}
	if !strings.Contains(logs.String(), "source jailed") || !strings.Contains(logs.String(), "source=198.18.0.1 why=\"jail full\"") {
		t.Errorf("log:\n%s", logs.String())
	}
	// The hold is an hour; clock is now 64 s. Move it so that the sources
	// last heavy at 0..9 s are due (src(0) was refreshed at 63 s).
	clock = int64(time.Hour) + int64(9*time.Second) + 1
	g.sweep()
	for i := range maxJailed + 1 {
		want := i == 0 || i >= 10
		if i == 1 {
			want = false
		}
		if in(src(i)) != want {
			t.Errorf("after the sweep: source %d jailed %v, want %v", i, in(src(i)), want)
		}
	}
	if n, _ := g.counts(); n != maxJailed-8 { // 2 to 9 released
		t.Errorf("after the sweep: %d jailed, want %d", n, maxJailed-8)
	}
	// What is attached is what g says: a datagram from a jailed source
	// lands on the quarantine socket.
	if err := sendFrom(netip.MustParseAddr("127.0.0.1"), socks[0].LocalAddr().(*net.UDPAddr).AddrPort(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	want := g.spread().Index(netip.MustParseAddr("127.0.0.1"))
	g.mu.Unlock()
	socks[want].SetReadDeadline(timeoutFromNow())
	if _, _, err := socks[want].ReadFromUDPAddrPort(make([]byte, 16)); err != nil {
		t.Errorf("socket %d: %v", want, err)
	}
}

func sendFrom(src netip.Addr, to netip.AddrPort, b []byte) error {
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(to))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write(b)
	return err
}

// syncBuffer is a log sink for a server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// sameSocket returns a loopback address (127.0.0.2 and up) that the
// source-spreading program with mul puts on victim's socket of n.
func sameSocket(t *testing.T, n int, mul uint32, victim netip.Addr) netip.Addr {
	t.Helper()
	sp := sockopt.Spread{Sockets: n, Mul: mul}
	for i := 2; i < 255; i++ {
		a := netip.AddrFrom4([4]byte{127, 0, 0, byte(i)})
		if sp.Index(a) == sp.Index(victim) {
			return a
		}
	}
	t.Fatal("no address on the victim's socket")
	return netip.Addr{}
}

// TestQuarantineFlood: on a server with 2 sockets and the quarantine
// socket, a source on the victim's socket floods it (garbage, DATA over
// its rate limit, bad tags) as fast as it can: it is jailed (Stats, an
// info line naming it) within the flood, the victim is answered
// throughout, the jailed source is still answered on the quarantine
// socket, and it is released after the hold time once it stops.
func TestQuarantineFlood(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_ATTACH_REUSEPORT_CBPF is Linux's")
	}
	key, other := testKeys(t, 1), testKeys(t, 2) // the flooder's: the same IDs, other secrets
	sealWith := func(kr *auth.Keyring) func([]byte) []byte {
		sn := sealer(t, kr, 99, time.Now)
		var mu sync.Mutex
		return func(b []byte) []byte {
			mu.Lock()
			defer mu.Unlock()
			return mustSign(t, sn, b)
		}
	}
	for _, mode := range []string{"garbage", "data", "badtag"} {
		t.Run(mode, func(t *testing.T) {
			const mul = 0x9e3779b1
			var logs syncBuffer
			s := &Server{Sockets: 2, SpreadMultiplier: mul, jailHold: 300 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			var seal, forge func([]byte) []byte
			switch mode {
			case "data":
				s.RateLimit = 1000
			case "badtag":
				s.Keys, seal, forge = key, sealWith(key), sealWith(other)
			}
			addr := serve(t, s, "udp4", "127.0.0.1:0")
			victim := dial(t, "udp4", addr)
			from := sameSocket(t, 2, mul, netip.MustParseAddr("127.0.0.1"))
			fc, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(from, 0)), net.UDPAddrFromAddrPort(addr))
			if err != nil {
				t.Fatal(err)
			}
			defer fc.Close()
			var stop atomic.Bool
			var sent atomic.Int64
			flooded := make(chan struct{})
			go func() {
				defer close(flooded)
				b := make([]byte, 0, 256)
				for id := uint64(1); !stop.Load(); id++ {
					b = wire.AppendData(b[:0], id, make([]byte, 32))
					switch mode {
					case "garbage":
						b[3] = 0x7f
					case "badtag":
						b = forge(b)
					}
					fc.Write(b)
					sent.Add(1)
				}
			}()
			deadline := time.Now().Add(waitTimeout)
			for s.Stats().JailedTotal == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			st := s.Stats()
			if st.JailedTotal != 1 || st.Jailed != 1 {
				stop.Store(true)
				<-flooded
				t.Fatalf("after %d flood datagrams: Jailed %d, JailedTotal %d (received %d)", sent.Load(), st.Jailed, st.JailedTotal, st.Received)
			}
			t.Logf("jailed after %d flood datagrams sent, %d received", sent.Load(), st.Received)
			// Still flooding: the victim is answered (it retries a lost
			// PING; the queue it shared was full a moment ago).
			for i := range 20 {
				exchangeRetry(t, victim, uint64(100+i), seal)
			}
			// So is the jailed source, from another port of its own.
			jc, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(from, 0)), net.UDPAddrFromAddrPort(addr))
			if err != nil {
				t.Fatal(err)
			}
			defer jc.Close()
			exchangeRetry(t, jc, 7, seal)
			stop.Store(true)
			<-flooded
			if !strings.Contains(logs.String(), fmt.Sprintf("source jailed: it floods its socket; it is served on the quarantine socket now\" source=%v", from)) {
				t.Errorf("no jail line naming %v in the log:\n%s", from, logs.String())
			}
			for s.Stats().Jailed != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if st := s.Stats(); st.Jailed != 0 || st.JailedTotal != 1 || !strings.Contains(logs.String(), "released") {
				t.Errorf("after the flood: Jailed %d, JailedTotal %d; log:\n%s", st.Jailed, st.JailedTotal, logs.String())
			}
		})
	}
}

// exchangeRetry sends PING id (sealed when seal is set) on c until a PONG
// for it comes back.
func exchangeRetry(t *testing.T, c *net.UDPConn, id uint64, seal func([]byte) []byte) {
	t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		msg := wire.Append(nil, wire.Header{Type: wire.TypePing, ID: id}, nil)
		if seal != nil {
			msg = seal(msg) // sealed anew: a resent datagram would be a replay
		}
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		for {
			n, err := c.Read(buf)
			if err != nil {
				break
			}
			if h, _, err := wire.Parse(buf[:n]); (err == nil || seal != nil) && h.Type == wire.TypePong && h.ID == id {
				return
			}
		}
	}
	t.Fatalf("no PONG for PING %d from %v", id, c.LocalAddr())
}

// TestQuarantineBusyNotJailed: a server with the quarantine that keeps
// up (an idle spell, then one source and then two sending as fast as
// their replies come back, 16 in flight: a busy client, not a flood) jails
// no one, although the one source holds every datagram of its socket.
func TestQuarantineBusyNotJailed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_ATTACH_REUSEPORT_CBPF is Linux's")
	}
	s := &Server{Sockets: 2, DedupWindow: 100 * time.Millisecond, DedupPerSource: 1 << 16}
	addr := serve(t, s, "udp4", "127.0.0.1:0")
	time.Sleep(100 * time.Millisecond) // idle
	run := func(src string, n int) {
		c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(src), 0)), net.UDPAddrFromAddrPort(addr))
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		const inflight = 16
		buf := make([]byte, 2048)
		msg := wire.AppendData(nil, 0, make([]byte, 32))
		id := uint64(0)
		send := func() {
			id++
			wire.AppendData(msg[:0], id, make([]byte, 32))
			c.Write(msg)
		}
		for range inflight {
			send()
		}
		for got := 0; got < n; got++ {
			c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c.Read(buf); err != nil {
				send() // lost (it should not be): keep the window full
				continue
			}
			send()
		}
	}
	run("127.0.0.2", 8*jailWindow)
	var wg sync.WaitGroup
	for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
		wg.Go(func() { run(src, 8*jailWindow) })
	}
	wg.Wait()
	if st := s.Stats(); st.JailedTotal != 0 || st.Received < 24*jailWindow {
		t.Errorf("busy server: JailedTotal %d, Received %d", st.JailedTotal, st.Received)
	}
}

// TestJailWatchVote runs the detector on made-up sequences of senders,
// on a real socket whose queue is backlogged (a tiny buffer overflowed:
// the kernel's drops rise) or not. Backlogged: every source with more
// than a sixteenth of two windows is jailed: one flooder alone, two at
// 60/40 or half and half, 3, 5, 6 (with the victim and one-off sources
// taking counters), 7, 10 and 15 in turn, 5 and 10 whose socket drains
// between two windows (jailed on the surge of the first: never two
// backlogged windows in a row); the victim is not (a twentieth of the
// datagrams, or the quiet spell before a flood that fills the window in
// which the flood begins); 17 flooders in turn (each under a sixteenth)
// are beyond the detector. Not backlogged: nobody, even a source alone or
// 3.
func TestJailWatchVote(t *testing.T) {
	floodersOf := func(f int) []netip.AddrPort {
		var out []netip.AddrPort
		for i := range f {
			out = append(out, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}), 1))
		}
		return out
	}
	if runtime.GOOS != "linux" {
		t.Skip("SO_MEMINFO is Linux's")
	}
	victim, flooder, other := netip.MustParseAddrPort("198.18.0.1:1000"), netip.MustParseAddrPort("198.18.0.2:2000"), netip.MustParseAddrPort("[fd18::3]:3000")
	seq := func(parts ...any) []netip.AddrPort { // (sender, count)..., or a pattern func
		var out []netip.AddrPort
		for i := 0; i < len(parts); i += 2 {
			for range parts[i+1].(int) {
				out = append(out, parts[i].(netip.AddrPort))
			}
		}
		return out
	}
	mix := func(n int, share float64, a, b netip.AddrPort) []netip.AddrPort {
		var out []netip.AddrPort
		acc := 0.0
		for range n {
			if acc += share; acc >= 1 {
				acc--
				out = append(out, a)
			} else {
				out = append(out, b)
			}
		}
		return out
	}
	// rr is n datagrams from f flooders (198.18.1.x) in turn; every 100
	// datagrams, victim sends v and v distinct one-off sources one each
	// (noise that takes Misra–Gries counters).
	noise := 0
	rr := func(n, v, f int) []netip.AddrPort {
		var out []netip.AddrPort
		for i := 0; len(out) < n; i++ {
			if i%100 == 0 {
				for range v {
					noise++
					out = append(out, victim, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(noise >> 8), byte(noise)}), 1))
				}
			}
			out = append(out, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(i % f)}), 1))
		}
		return out[:n]
	}
	// bursts is rounds of f flooders each sending a window's worth in
	// turn: no window's candidate is in the next window.
	bursts := func(rounds, f int) []netip.AddrPort {
		var out []netip.AddrPort
		for range rounds {
			for i := range f {
				for range jailWindow {
					out = append(out, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}), 1))
				}
			}
		}
		return out
	}
	const quietSpell = 2*jailWindow - 40 // a window of the client alone, then most of the next
	for _, tc := range []struct {
		name       string
		backlogged bool
		quiet      int // datagrams before the socket is backlogged
		senders    []netip.AddrPort
		want       []netip.AddrPort
		alternate  bool // backlogged in every other window only: the queue drains in between
	}{
		{"flood", true, 0, seq(flooder, 4*jailWindow), []netip.AddrPort{flooder}, false},
		{"quiet spell then flood", true, quietSpell, append(seq(victim, quietSpell), seq(flooder, 4*jailWindow)...), []netip.AddrPort{flooder}, false},
		{"60 and 40", true, 0, mix(4*jailWindow, 0.6, flooder, other), []netip.AddrPort{flooder, other}, false},
		{"half and half", true, 0, mix(4*jailWindow, 0.5, flooder, other), []netip.AddrPort{flooder, other}, false},
		{"3 flooders", true, 0, rr(4*jailWindow, 0, 3), floodersOf(3), false},
		{"5 flooders and the victim", true, 0, rr(4*jailWindow, 5, 5), floodersOf(5), false},
		{"6 flooders, the victim and noise", true, 0, rr(4*jailWindow, 5, 6), floodersOf(6), false},
		{"7 flooders", true, 0, rr(4*jailWindow, 0, 7), floodersOf(7), false},
		{"10 flooders", true, 0, rr(4*jailWindow, 0, 10), floodersOf(10), false},
		{"10 flooders, the victim and noise", true, 0, rr(4*jailWindow, 3, 10), floodersOf(10), false},
		{"15 flooders", true, 0, rr(4*jailWindow, 0, 15), floodersOf(15), false},
		{"17 flooders: each under a sixteenth", true, 0, rr(4*jailWindow, 0, 17), nil, false},
		{"5 flooders in bursts of a window", true, 0, bursts(4, 5), floodersOf(5), false},
		{"victim a twentieth", true, 0, mix(4*jailWindow, 0.05, victim, flooder), []netip.AddrPort{flooder}, false},
		{"5 flooders, the queue draining every other window", true, 0, rr(6*jailWindow, 1, 5), floodersOf(5), true},
		{"10 flooders, the queue draining every other window", true, 0, rr(6*jailWindow, 1, 10), floodersOf(10), true},
		{"3 flooders, keeping up", false, 0, rr(8*jailWindow, 0, 3), nil, false},
		{"alone, keeping up", false, 0, seq(victim, 8*jailWindow), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{jailHold: time.Hour}
			s.clock = func() int64 { return 0 } // every window read in no time: jailMinRate never holds a source back
			s.init()
			socks := reusePortGroup(t, 1) // one socket: the test's datagrams all reach it
			rc, _ := socks[0].SyscallConn()
			g := newJailGroup(s, rc, 1, 0x9e3779b1)
			defer g.close()
			w, err := newJailWatch(g, rc, false)
			if err != nil {
				t.Fatal(err)
			}
			to := socks[0].LocalAddr().(*net.UDPAddr).AddrPort()
			c := dial(t, "udp4", to)
			buf := make([]byte, 2048)
			for i, src := range tc.senders {
				if tc.backlogged && i == tc.quiet {
					socks[0].SetReadBuffer(1) // the kernel's floor: a few datagrams fill it
				}
				quietWindow := tc.alternate && ((i-tc.quiet)/jailWindow)%2 == 1
				if quietWindow && (i-tc.quiet)%jailWindow == 0 {
					for { // the worker catches up: no drops, the queue empty
						socks[0].SetReadDeadline(time.Now().Add(5 * time.Millisecond))
						if _, _, err := socks[0].ReadFromUDPAddrPort(buf); err != nil {
							break
						}
					}
				}
				if tc.backlogged && !quietWindow && i >= tc.quiet && (i-tc.quiet)%64 == 0 {
					for range 64 { // keep the kernel dropping
						c.Write(make([]byte, 512))
					}
				}
				w.observe(src)
			}
			g.mu.Lock()
			var got []netip.AddrPort
			for _, cell := range g.cells {
				found := false
				for _, a := range append([]netip.AddrPort{victim, flooder, other}, floodersOf(17)...) {
					if jailKeyOf(a.Addr()) == cell.key {
						got, found = append(got, a), true
					}
				}
				if !found {
					t.Errorf("jailed %v, a noise source", cell.key)
				}
			}
			g.mu.Unlock()
			slices.SortFunc(got, func(a, b netip.AddrPort) int { return a.Compare(b) })
			slices.SortFunc(tc.want, func(a, b netip.AddrPort) int { return a.Compare(b) })
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("jailed %v, want %v", got, tc.want)
			}
		})
	}
}

// TestJailWatchVictimAfterJail: a victim paced at 1000/s shares a
// backlogged socket with a flooder (one datagram in 20), which is jailed;
// then, as on a busy machine right after the jail, the window that
// drains the flooder's backlog ends with the socket's drops risen (the
// drops of the flood before the jail took effect), and the victim is
// alone on its socket at its own pace, first with the queue empty, then
// with the queue looking backlogged all along (junk from elsewhere keeps
// it full and dropping). The victim is never jailed; the flooder is.
func TestJailWatchVictimAfterJail(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_MEMINFO is Linux's")
	}
	victim, flooder := netip.MustParseAddrPort("198.18.0.1:1000"), netip.MustParseAddrPort("198.18.0.2:2000")
	var clock int64
	s := &Server{jailHold: time.Hour}
	s.clock = func() int64 { return clock }
	s.init()
	socks := reusePortGroup(t, 1)
	rc, _ := socks[0].SyscallConn()
	g := newJailGroup(s, rc, 1, 0x9e3779b1)
	defer g.close()
	w, err := newJailWatch(g, rc, false)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, "udp4", socks[0].LocalAddr().(*net.UDPAddr).AddrPort())
	overflow := func() { // the kernel drops: the queue is full
		for range 64 {
			c.Write(make([]byte, 512))
		}
	}
	drain := func() { // the worker catches up: the queue is empty
		socks[0].SetReadBuffer(1 << 20)
		buf := make([]byte, 2048)
		for {
			socks[0].SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if _, _, err := socks[0].ReadFromUDPAddrPort(buf); err != nil {
				return
			}
		}
	}
	jailed := func() []jailKey {
		g.mu.Lock()
		defer g.mu.Unlock()
		var ks []jailKey
		for _, cell := range g.cells {
			ks = append(ks, cell.key)
		}
		return ks
	}
	// The flood: 100k/s read, the victim one in 20.
	socks[0].SetReadBuffer(1)
	for i := range 3 * jailWindow {
		if i%64 == 0 {
			overflow()
		}
		clock += int64(10 * time.Microsecond)
		if i%20 == 0 {
			w.observe(victim)
		} else {
			w.observe(flooder)
		}
	}
	if got := jailed(); len(got) != 1 || got[0] != jailKeyOf(flooder.Addr()) {
		t.Fatalf("after the flood: jailed %v, want the flooder %v", got, flooder)
	}
	// The window that drains its backlog: 100 more of the flooder's, the
	// victim's at 1 ms; the drops rose once (before the jail took effect).
	overflow()
	drain()
	for range 100 {
		clock += int64(10 * time.Microsecond)
		w.observe(flooder)
	}
	for range 4 * jailWindow {
		clock += int64(time.Millisecond)
		w.observe(victim)
	}
	if got := jailed(); len(got) != 1 {
		t.Fatalf("the victim alone, its socket drained: jailed %v, want only the flooder %v", got, flooder)
	}
	// The victim alone at its pace, the socket looking backlogged.
	socks[0].SetReadBuffer(1)
	for i := range 4 * jailWindow {
		if i%64 == 0 {
			overflow()
		}
		clock += int64(time.Millisecond)
		w.observe(victim)
	}
	if got := jailed(); len(got) != 1 {
		t.Fatalf("the victim alone at 1000/s, its socket backlogged: jailed %v, want only the flooder %v", got, flooder)
	}
}

// BenchmarkJailObserve is the detector's cost per datagram, the
// evaluation (one getsockopt every jailWindow datagrams) included.
func BenchmarkJailObserve(b *testing.B) { benchJailObserve(b, false, false) }

// BenchmarkJailObserveMany is BenchmarkJailObserve with 24 sources in
// turn: the detector's worst case.
func BenchmarkJailObserveMany(b *testing.B) { benchJailObserve(b, true, false) }

// BenchmarkJailObserveBacklogged is BenchmarkJailObserveMany with the
// socket's queue full all along: a look every jailPart datagrams, none of
// the sources heavy.
func BenchmarkJailObserveBacklogged(b *testing.B) { benchJailObserve(b, true, true) }

func benchJailObserve(b *testing.B, many, backlogged bool) {
	if runtime.GOOS != "linux" {
		b.Skip("SO_MEMINFO is Linux's")
	}
	s := &Server{jailHold: time.Hour}
	s.init()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Skip(err)
	}
	defer pc.Close()
	rc, _ := pc.(*net.UDPConn).SyscallConn()
	g := newJailGroup(s, rc, 1, 0x9e3779b1)
	defer g.close()
	w, err := newJailWatch(g, rc, false)
	if err != nil {
		b.Fatal(err)
	}
	if backlogged {
		pc.(*net.UDPConn).SetReadBuffer(1) // the kernel's floor, never read
		c := dial(b, "udp4", pc.LocalAddr().(*net.UDPAddr).AddrPort())
		c.Write(make([]byte, 1400)) // one datagram over 3/4 of the floor
		w.backlogged = true         // as at a backlogged window's end: the part looks begin
	}
	srcs := []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:1"), netip.MustParseAddrPort("198.18.0.2:2"), netip.MustParseAddrPort("[fd18::1]:3")}
	if many {
		// More sources than counters: every scan is full, and Misra–Gries
		// decrements every counter now and then.
		srcs = nil
		for i := range 3 * jailCounters {
			srcs = append(srcs, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 2, byte(i)}), 1))
		}
	}
	b.ReportAllocs()
	for i := range b.N {
		w.observe(srcs[i%len(srcs)])
	}
	if backlogged && !w.backlogged {
		b.Fatal("the queue did not stay backlogged")
	}
}

// TestQuarantineFloodSources: 3, 5 and 10 sources on the victim's
// socket flood it with DATA over their rate limit, in turn from one
// goroutine (no one of them holds a majority of the socket's datagrams),
// or each from a goroutine of its own (in bursts, as the scheduler runs
// them): every one is jailed, the victim is not, and it is answered while
// they flood.
func TestQuarantineFloodSources(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_ATTACH_REUSEPORT_CBPF is Linux's")
	}
	for _, tc := range []struct {
		n      int
		bursts bool
	}{{3, false}, {5, false}, {10, false}, {3, true}, {5, true}, {10, true}} {
		n := tc.n
		name := fmt.Sprint(n)
		if tc.bursts {
			name += "-goroutines"
		}
		t.Run(name, func(t *testing.T) {
			const mul = 0x9e3779b1
			var logs syncBuffer
			s := &Server{Sockets: 2, SpreadMultiplier: mul, RateLimit: 1000, jailHold: time.Hour,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			addr := serve(t, s, "udp4", "127.0.0.1:0")
			victim := dial(t, "udp4", addr)
			from := sameSockets(t, n, 2, mul, netip.MustParseAddr("127.0.0.1"))
			var fcs []*net.UDPConn
			for _, a := range from {
				fc, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)), net.UDPAddrFromAddrPort(addr))
				if err != nil {
					t.Fatal(err)
				}
				defer fc.Close()
				fcs = append(fcs, fc)
			}
			var stop atomic.Bool
			var sent atomic.Int64
			flooded := make(chan struct{})
			var wg sync.WaitGroup
			flood := func(fcs []*net.UDPConn) {
				b := make([]byte, 0, 256)
				for id := uint64(1); !stop.Load(); id++ {
					b = wire.AppendData(b[:0], id, make([]byte, 32))
					fcs[id%uint64(len(fcs))].Write(b)
					sent.Add(1)
				}
			}
			if tc.bursts {
				for _, fc := range fcs {
					wg.Go(func() { flood([]*net.UDPConn{fc}) })
				}
			} else {
				wg.Go(func() { flood(fcs) })
			}
			go func() { wg.Wait(); close(flooded) }()
			deadline := time.Now().Add(waitTimeout)
			for s.Stats().JailedTotal < uint64(n) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			// Still flooding: the victim is answered.
			for i := range 20 {
				exchangeRetry(t, victim, uint64(100+i), nil)
			}
			stop.Store(true)
			<-flooded
			st := s.Stats()
			t.Logf("%d flood datagrams sent, %d received; jailed %d", sent.Load(), st.Received, st.JailedTotal)
			if st.JailedTotal != uint64(n) || st.Jailed != n {
				t.Errorf("%d flooders: Jailed %d, JailedTotal %d; log:\n%s", n, st.Jailed, st.JailedTotal, logs.String())
			}
			// Who is jailed: the jail itself (the log's jail lines are
			// rate-limited: sources jailed one window after another
			// run out of its budget).
			jailed := map[netip.Addr]bool{}
			s.mu.Lock()
			for _, g := range s.jails {
				g.mu.Lock()
				for _, c := range g.cells {
					jailed[c.key.addr()] = true
				}
				g.mu.Unlock()
			}
			s.mu.Unlock()
			for _, a := range from {
				if !jailed[a] {
					t.Errorf("%v is not jailed; log:\n%s", a, logs.String())
				}
			}
			if jailed[netip.MustParseAddr("127.0.0.1")] || jailedInLog(logs.String())["127.0.0.1"] {
				t.Errorf("the victim was jailed; log:\n%s", logs.String())
			}
			if !strings.Contains(logs.String(), "on the quarantine socket now\" source=") {
				t.Errorf("no jail line in the log:\n%s", logs.String())
			}
		})
	}
}

// jailedInLog returns the sources that the jail lines of a server's log
// name (several jailed together share one line: source=a,b,c).
func jailedInLog(log string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "on the quarantine socket now\" source=") {
			continue
		}
		f := strings.Fields(line[strings.Index(line, "\" source=")+len("\" source="):])
		for _, a := range strings.Split(f[0], ",") {
			out[a] = true
		}
	}
	return out
}

// sameSockets returns n loopback addresses (127.0.0.2 and up) that the
// source-spreading program with mul puts on victim's socket of sockets.
func sameSockets(t *testing.T, n, sockets int, mul uint32, victim netip.Addr) []netip.Addr {
	t.Helper()
	sp := sockopt.Spread{Sockets: sockets, Mul: mul}
	var out []netip.Addr
	for i := 2; i < 255 && len(out) < n; i++ {
		a := netip.AddrFrom4([4]byte{127, 0, 0, byte(i)})
		if sp.Index(a) == sp.Index(victim) {
			out = append(out, a)
		}
	}
	if len(out) < n {
		t.Fatalf("only %d addresses on the victim's socket", len(out))
	}
	return out
}

// TestJailWatchQuarantineRefresh: on the quarantine socket a jailed
// source still sending fast is kept jailed although the socket keeps up
// (it would flood its old socket again once released), and one that slows
// to a paced client's rate is released after the hold.
func TestJailWatchQuarantineRefresh(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_MEMINFO is Linux's")
	}
	flooder := netip.MustParseAddrPort("198.18.0.2:2000")
	hold := time.Second
	var clock int64
	s := &Server{jailHold: hold}
	s.clock = func() int64 { return clock }
	s.init()
	socks := reusePortGroup(t, 1)
	rc, _ := socks[0].SyscallConn()
	g := newJailGroup(s, rc, 1, 0x9e3779b1)
	defer g.close()
	g.heavy([]jailKey{jailKeyOf(flooder.Addr())}, false)
	w, err := newJailWatch(g, rc, true) // the queue is empty: never backlogged
	if err != nil {
		t.Fatal(err)
	}
	heavyAt := func() int64 {
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.cells) != 1 {
			t.Fatalf("jailed %d sources, want the flooder alone", len(g.cells))
		}
		return g.cells[0].heavy
	}
	// 100k/s for three windows: refreshed.
	for range 3 * jailWindow {
		clock += int64(10 * time.Microsecond)
		w.observe(flooder)
	}
	if got := heavyAt(); got < clock-int64(jailWindow*10*time.Microsecond) {
		t.Fatalf("fast on the quarantine socket: last heavy at %v, want within the last window (now %v)", time.Duration(got), time.Duration(clock))
	}
	// 1000/s for a hold and a bit: not refreshed, and the sweep releases it.
	last := heavyAt()
	for clock < last+2*int64(hold) {
		clock += int64(time.Millisecond)
		w.observe(flooder)
	}
	if got := heavyAt(); got != last {
		t.Fatalf("at 1000/s on the quarantine socket: refreshed at %v, want no refresh after %v", time.Duration(got), time.Duration(last))
	}
	g.sweep()
	if n, total := g.counts(); n != 0 || total != 1 {
		t.Fatalf("after the sweep: jailed %d (total %d), want 0 (1)", n, total)
	}
}

// TestJailGroupPressed: the quarantine paces itself only while a hashed
// socket is short of time (dropping, or its queue an eighth full); a
// flood forged with a client's address jails the client with it, and a
// quarantine paced while nobody else waits would starve that client.
func TestJailGroupPressed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_MEMINFO is Linux's")
	}
	s := &Server{jailHold: time.Hour}
	s.init()
	socks := reusePortGroup(t, 1)         // the hashed socket
	quarantine := reusePortGroup(t, 1)[0] // apart: c's datagrams reach socks[0] only
	rc0, _ := socks[0].SyscallConn()
	rc1, _ := quarantine.SyscallConn()
	g := newJailGroup(s, rc0, 1, 0x9e3779b1)
	defer g.close()
	if _, err := newJailWatch(g, rc0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := newJailWatch(g, rc1, true); err != nil { // the quarantine's own queue is not looked at
		t.Fatal(err)
	}
	if g.pressed() {
		t.Fatal("pressed with every queue empty")
	}
	c := dial(t, "udp4", socks[0].LocalAddr().(*net.UDPAddr).AddrPort())
	socks[0].SetReadBuffer(1)
	for range 64 {
		c.Write(make([]byte, 512))
	}
	if !g.pressed() {
		t.Fatal("not pressed while the hashed socket drops")
	}
	if !g.pressed() {
		t.Fatal("not pressed while the hashed socket's queue is full")
	}
	socks[0].SetReadBuffer(1 << 20)
	buf := make([]byte, 2048)
	for {
		socks[0].SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, _, err := socks[0].ReadFromUDPAddrPort(buf); err != nil {
			break
		}
	}
	if g.pressed() {
		t.Fatal("pressed after the hashed socket was drained")
	}
}
