package udpserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// TestQuarantineFloodStarved: 5 and 10 sources on the victim's socket
// flood it, each from a goroutine and socket of its own, while the
// server's workers are starved: the whole test process runs on one P
// (GOMAXPROCS 1), so each flooder sends alone for a time slice and the
// worker reads the queue it left behind, a few bursts a window, at a
// small fraction of what is sent (starvedRate), most of it dropped by the
// kernel. Every flooder is jailed, the victim never, it is answered while
// they flood, and the log names every jailed source although they may be
// jailed in more steps than its budget has lines.
func TestQuarantineFloodStarved(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_ATTACH_REUSEPORT_CBPF is Linux's")
	}
	for _, n := range []int{5, 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			// The flooders and the worker each need a P of their own.
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0))))
			const mul = 0x9e3779b1
			var logs syncBuffer
			// Every DATA costs the workers 1/(n·starvedRate) s, all
			// of them together: each flooder is read at starvedRate
			// at most.
			pace := newPacer(time.Duration(float64(time.Second) / float64(n*starvedRate)))
			s := &Server{Sockets: 2, SpreadMultiplier: mul, RateLimit: 1e9, jailHold: time.Hour,
				Handler: HandlerFunc(func(context.Context, *Request) error { pace.wait(); return nil }),
				Logger:  slog.New(slog.NewTextHandler(&logs, nil))}
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
			var wg sync.WaitGroup
			for _, fc := range fcs {
				wg.Go(func() {
					b := make([]byte, 0, 256)
					for id := uint64(1); !stop.Load(); id++ {
						b = wire.AppendData(b[:0], id, make([]byte, 32))
						fc.Write(b)
						sent.Add(1)
						runtime.Gosched() // the flooders in turn: each holds a tenth of the queue, not all of it
					}
				})
			}
			deadline := time.Now().Add(waitTimeout)
			for s.Stats().JailedTotal < uint64(n) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			// Still flooding: the victim is answered.
			for i := range 10 {
				exchangeRetry(t, victim, uint64(100+i), nil)
			}
			stop.Store(true)
			wg.Wait()
			st := s.Stats()
			t.Logf("%d flood datagrams sent, %d received; jailed %d", sent.Load(), st.Received, st.JailedTotal)
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
					t.Errorf("%v is not jailed (%d of %d are)", a, len(jailed), n)
				}
			}
			if jailed[netip.MustParseAddr("127.0.0.1")] {
				t.Errorf("the victim was jailed")
			}
			// The log: every jailed source named, once the lines that
			// waited for the budget are out (a second apart at most).
			for time.Now().Before(deadline.Add(2 * time.Second)) {
				named := jailedInLog(logs.String())
				all := true
				for a := range jailed {
					all = all && named[a.String()]
				}
				if all {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			named := jailedInLog(logs.String())
			for a := range jailed {
				if !named[a.String()] {
					t.Errorf("%v is jailed but no log line names it", a)
				}
			}
			if named["127.0.0.1"] {
				t.Errorf("the log names the victim as jailed")
			}
			if t.Failed() {
				t.Logf("log:\n%s", logs.String())
			}
		})
	}
}

// starvedRate is the most TestQuarantineFloodStarved's workers read of
// each flooder a second: a small fraction of what it sends, twice
// jailMinRate. At 1500/s (under the floor on average, jailed only in the
// windows that happened to read it faster) one of 10 flooders stayed
// unjailed for 10 s now and then on a loaded machine.
const starvedRate = 2 * jailMinRate

// pacer makes its callers together take at least every seconds per call,
// as a slow handler would: each call waits (spinning: a worker busy, not
// asleep) until its turn; turns missed while nobody called are not made up
// beyond 20 ms worth.
type pacer struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
}

func newPacer(every time.Duration) *pacer { return &pacer{every: every} }

func (p *pacer) wait() {
	p.mu.Lock()
	now := time.Now()
	if floor := now.Add(-20 * time.Millisecond); p.next.Before(floor) {
		p.next = floor
	}
	p.next = p.next.Add(p.every)
	until := p.next
	p.mu.Unlock()
	for time.Now().Before(until) {
	}
}

// TestJailWatchStarved: the detector on a real socket whose kernel
// queue drops (a receive buffer at the kernel's floor, junk sent to it),
// with the worker's clock made up: what a starved worker reads.
//   - a victim read at 1900/s (retransmitting, 3 of every 16 datagrams)
//     while the kernel drops 5 times what the worker reads: not jailed
//     (a floor scaled by the drops jailed it: jailMinRate);
//   - a victim alone at 1000/s while the kernel drops four times what the
//     worker reads (a flood from elsewhere on its socket): never jailed;
//   - a flood from a second source, right after a first one was jailed,
//     is jailed after a part of a window (jailPart), not a whole one.
func TestJailWatchStarved(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_MEMINFO is Linux's")
	}
	setup := func(t *testing.T) (w *jailWatch, g *jailGroup, clock *int64, drop func(int)) {
		var c int64
		s := &Server{jailHold: time.Hour}
		s.clock = func() int64 { return c }
		s.init()
		socks := reusePortGroup(t, 1)
		rc, _ := socks[0].SyscallConn()
		g = newJailGroup(s, rc, 1, 0x9e3779b1)
		t.Cleanup(g.close)
		var err error
		if w, err = newJailWatch(g, rc, false); err != nil {
			t.Fatal(err)
		}
		junk := dial(t, "udp4", socks[0].LocalAddr().(*net.UDPAddr).AddrPort())
		socks[0].SetReadBuffer(1) // the kernel's floor: a few datagrams fill it
		drop = func(n int) {
			for range n {
				junk.Write(make([]byte, 512))
			}
		}
		return w, g, &c, drop
	}
	jailed := func(g *jailGroup) map[jailKey]bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		out := map[jailKey]bool{}
		for _, c := range g.cells {
			out[c.key] = true
		}
		return out
	}
	flooder := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}), 1)
	}
	t.Run("a retransmitting victim read at 1900/s", func(t *testing.T) {
		// As in a run of 10 flood processes started together: a window
		// that began backlogged, the kernel dropping 5 times what is
		// read, the victim 24 of 128 datagrams read in 12.35 ms. A
		// floor scaled by the drops jailed it.
		w, g, clock, drop := setup(t)
		victim := netip.MustParseAddrPort("198.18.0.1:1000")
		for i := range jailWindow { // a flood's window: backlogged, the flooder jailed
			if i%64 == 0 {
				drop(64)
			}
			*clock += int64(10 * time.Microsecond)
			w.observe(flooder(0))
		}
		for i := range 4 * jailWindow {
			if i%32 == 0 {
				drop(160)
			}
			*clock += int64(12350*time.Microsecond) / 128
			if i%16 < 3 {
				w.observe(victim) // 3 in 16: 24 of 128
			} else {
				w.observe(flooder(1 + i%7)) // 6 others, each under the floor
			}
		}
		if got := jailed(g); got[jailKeyOf(victim.Addr())] {
			t.Errorf("the victim, read at 1900/s, is jailed")
		}
	})
	t.Run("victim alone, the kernel dropping", func(t *testing.T) {
		w, g, clock, drop := setup(t)
		victim := netip.MustParseAddrPort("198.18.0.1:1000")
		for i := range 8 * jailWindow {
			if i%64 == 0 {
				drop(4 * 64)
			}
			*clock += int64(time.Millisecond)
			w.observe(victim)
		}
		if got := jailed(g); len(got) != 0 {
			t.Errorf("the victim at 1000/s: jailed %v", got)
		}
	})
	t.Run("a second flood jailed after a part window", func(t *testing.T) {
		w, g, clock, drop := setup(t)
		for i := range 2 * jailWindow { // the first flood: jailed in its first window
			if i%64 == 0 {
				drop(64)
			}
			*clock += int64(10 * time.Microsecond)
			w.observe(flooder(0))
		}
		if got := jailed(g); !got[jailKeyOf(flooder(0).Addr())] {
			t.Fatalf("the first flooder is not jailed")
		}
		for i := range jailPart {
			if i%32 == 0 {
				drop(64)
			}
			*clock += int64(10 * time.Microsecond)
			w.observe(flooder(1))
		}
		if got := jailed(g); !got[jailKeyOf(flooder(1).Addr())] {
			t.Errorf("the second flooder is not jailed after %d of its datagrams; jailed %d", jailPart, len(got))
		}
	})
}
