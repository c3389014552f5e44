package client

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// fakeConn is an in-memory connected socket. Inside a synctest bubble,
// goroutines blocked on it are durably blocked, so fake time advances.
type fakeConn struct {
	mu     sync.Mutex
	writes []time.Time
	reads  chan []byte
	closed chan struct{}
	once   sync.Once
	onData func(id uint64, copy int) // called for each DATA written
	copies map[uint64]int
	failN  int // the first failN writes fail with failErr and send nothing
	failEr error
}

func newFakeConn() *fakeConn {
	return &fakeConn{reads: make(chan []byte, 16), closed: make(chan struct{}), copies: map[uint64]int{}}
}

func (f *fakeConn) Read(b []byte) (int, error) {
	select {
	case d := <-f.reads:
		return copy(b, d), nil
	case <-f.closed:
		return 0, net.ErrClosed
	}
}

func (f *fakeConn) Write(b []byte) (int, error) {
	select {
	case <-f.closed:
		return 0, net.ErrClosed
	default:
	}
	f.mu.Lock()
	f.writes = append(f.writes, time.Now())
	if f.failN > 0 {
		f.failN--
		f.mu.Unlock()
		return 0, f.failEr
	}
	h, _, err := wire.Parse(b)
	var cb func(uint64, int)
	n := 0
	if err == nil && h.Type == wire.TypeData {
		f.copies[h.ID]++
		n = f.copies[h.ID]
		cb = f.onData
	}
	f.mu.Unlock()
	if cb != nil {
		cb(h.ID, n)
	}
	return len(b), nil
}

func (f *fakeConn) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

// gaps returns the intervals between the writes.
func (f *fakeConn) gaps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var g []time.Duration
	for i := 1; i < len(f.writes); i++ {
		g = append(g, f.writes[i].Sub(f.writes[i-1]))
	}
	return g
}

var fakeRemote = netip.MustParseAddrPort("127.0.0.1:9797")

func TestBackoffSchedule(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name        string
		cfg         Config
		wantGaps    []time.Duration
		wantElapsed time.Duration
	}{
		{
			name: "defaults with jitter 1.25",
			cfg:  Config{jitter: func() float64 { return 0.5 }},
			// 250, 500, 1000, 2000, then capped at 4000; six transmissions.
			wantGaps:    []time.Duration{250 * ms, 500 * ms, 1000 * ms, 2000 * ms, 4000 * ms},
			wantElapsed: 11750 * ms,
		},
		{
			name:        "no jitter, three retries",
			cfg:         Config{Retries: 3, jitter: func() float64 { return 0 }},
			wantGaps:    []time.Duration{200 * ms, 400 * ms, 800 * ms},
			wantElapsed: 3000 * ms,
		},
		{
			name: "exchange lifetime ends the retransmissions",
			cfg: Config{InitialTimeout: 100 * ms, Retries: 100, lifetime: time.Second,
				jitter: func() float64 { return 0 }},
			// 0, 100, 300, 700 ms; at 1500 ms the lifetime has passed.
			wantGaps:    []time.Duration{100 * ms, 200 * ms, 400 * ms},
			wantElapsed: 1500 * ms,
		},
		{
			name:        "no retries",
			cfg:         Config{Retries: -1, jitter: func() float64 { return 0.999 }},
			wantElapsed: 299900 * time.Microsecond, // 200 ms * 1.4995
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fc := newFakeConn()
				c := newClient(fc, fakeRemote, tt.cfg)
				defer c.Close()
				res, err := c.Send(context.Background(), []byte("x"))
				if !errors.Is(err, ErrTimeout) {
					t.Fatalf("err = %v, want ErrTimeout", err)
				}
				gaps := fc.gaps()
				if len(gaps) != len(tt.wantGaps) {
					t.Fatalf("gaps %v, want %v", gaps, tt.wantGaps)
				}
				for i := range gaps {
					if gaps[i] != tt.wantGaps[i] {
						t.Errorf("gap %d = %v, want %v", i, gaps[i], tt.wantGaps[i])
					}
				}
				if res.Elapsed != tt.wantElapsed || res.Attempts != len(tt.wantGaps)+1 {
					t.Errorf("result %+v, want %d attempts over %v", res, len(tt.wantGaps)+1, tt.wantElapsed)
				}
			})
		})
	}
}

// TestAdaptiveTimeout checks that measured round trips set the next
// message's first timeout (RFC 6298) and that a late reply to a
// retransmitted message does not.
func TestAdaptiveTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := newFakeConn()
		delay := 10 * time.Millisecond
		dropFirst := false
		fc.onData = func(id uint64, n int) {
			if dropFirst && n == 1 {
				return
			}
			d := delay
			go func() {
				time.Sleep(d)
				fc.reads <- wire.AppendAck(nil, id)
			}()
		}
		c := newClient(fc, fakeRemote, Config{jitter: func() float64 { return 0 }})
		defer c.Close()
		ctx := context.Background()
		if c.rtt.base() != 200*time.Millisecond {
			t.Fatalf("initial base %v", c.rtt.base())
		}
		res, err := c.Send(ctx, nil)
		if err != nil || res.RTT != delay {
			t.Fatalf("res %+v, err %v", res, err)
		}
		// SRTT 10 ms, RTTVAR 5 ms: 30 ms, but never below the 50 ms floor.
		if got := c.rtt.base(); got != 50*time.Millisecond {
			t.Errorf("base after one sample %v, want 50ms", got)
		}
		delay = 40 * time.Millisecond // within the 50 ms timeout
		if res, err := c.Send(ctx, nil); err != nil || res.Attempts != 1 {
			t.Fatalf("res %+v, err %v", res, err)
		}
		// RTTVAR = (3*5 + 30)/4 = 11.25 ms, SRTT = (7*10 + 40)/8 = 13.75 ms.
		if got, want := c.rtt.base(), 13750*time.Microsecond+4*11250*time.Microsecond; got != want {
			t.Errorf("base after two samples %v, want %v", got, want)
		}
		before := c.rtt.base()
		dropFirst = true
		delay = time.Millisecond
		res, err = c.Send(ctx, nil)
		if err != nil || res.Attempts != 2 {
			t.Fatalf("res %+v, err %v", res, err)
		}
		// No sample came from the retransmitted message.
		if got := c.rtt.base(); got != before {
			t.Errorf("base after a retransmission %v, want %v", got, before)
		}
	})
}

func TestCongestionWindow(t *testing.T) {
	cw := newCongestionWindow(8)
	if cw.size(false) != 1 {
		t.Fatal("window above 1 before a round trip was measured")
	}
	cw.onAck(false)
	if cw.size(true) != 1 {
		t.Fatal("grew on an ack without a measured round trip")
	}
	var sizes []int
	for range 12 {
		cw.onAck(true)
		sizes = append(sizes, cw.size(true))
	}
	// Slow start to 8, capped.
	if sizes[0] != 2 || sizes[6] != 8 || sizes[11] != 8 {
		t.Errorf("sizes %v", sizes)
	}
	cw.onLoss()
	if cw.size(true) != 4 {
		t.Errorf("after a loss %d, want 4", cw.size(true))
	}
	for range 4 { // one window acknowledged: +1
		cw.onAck(true)
	}
	if cw.size(true) != 4 && cw.size(true) != 5 {
		t.Errorf("after a window of acks %d, want 4 or 5", cw.size(true))
	}
	for range 10 {
		cw.onLoss()
	}
	if cw.size(true) != 1 {
		t.Errorf("floor %d, want 1", cw.size(true))
	}
}

// TestSendAllWindowGrows checks that SendAll keeps one message in flight
// until a round trip was measured, then more.
func TestSendAllWindowGrows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := newFakeConn()
		var mu sync.Mutex
		inflight, most := 0, []int{}
		fc.onData = func(id uint64, n int) {
			mu.Lock()
			inflight++
			most = append(most, inflight)
			mu.Unlock()
			go func() {
				time.Sleep(time.Millisecond)
				mu.Lock()
				inflight--
				mu.Unlock()
				fc.reads <- wire.AppendAck(nil, id)
			}()
		}
		c := newClient(fc, fakeRemote, Config{Window: 4})
		defer c.Close()
		n := 0
		err := c.SendAll(context.Background(), func(yield func([]byte) bool) {
			for range 40 {
				if !yield([]byte("x")) {
					return
				}
			}
		}, func(int, Result, error) { n++ })
		if err != nil || n != 40 {
			t.Fatalf("err %v, %d outcomes", err, n)
		}
		if most[0] != 1 || most[1] != 1 {
			t.Errorf("in flight %v: more than one before the first round trip", most[:2])
		}
		peak := 0
		for _, m := range most {
			peak = max(peak, m)
		}
		if peak != 4 {
			t.Errorf("peak in flight %d, want the window, 4", peak)
		}
	})
}

// TestTransientSendErrors: a send that a firewall drops (EPERM) or a full
// queue refuses (ENOBUFS) is a lost datagram, retransmitted on schedule; if
// it persists, the timeout error names it.
func TestTransientSendErrors(t *testing.T) {
	for _, errno := range []error{syscall.EPERM, syscall.ENOBUFS} {
		t.Run(errno.Error(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fc := newFakeConn()
				fc.failN, fc.failEr = 2, &net.OpError{Op: "write", Net: "udp", Err: os.NewSyscallError("sendto", errno)}
				fc.onData = func(id uint64, _ int) { fc.reads <- wire.AppendAck(nil, id) }
				c := newClient(fc, fakeRemote, Config{jitter: func() float64 { return 0 }})
				defer c.Close()
				res, err := c.Send(context.Background(), []byte("x"))
				if err != nil || res.Attempts != 3 {
					t.Fatalf("Send = %+v, %v; want acked on the third attempt", res, err)
				}
			})
			synctest.Test(t, func(t *testing.T) {
				fc := newFakeConn()
				fc.failN, fc.failEr = 1000, &net.OpError{Op: "write", Net: "udp", Err: os.NewSyscallError("sendto", errno)}
				c := newClient(fc, fakeRemote, Config{Retries: 2, jitter: func() float64 { return 0 }})
				defer c.Close()
				_, err := c.Send(context.Background(), []byte("x"))
				if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), errno.Error()) {
					t.Fatalf("err = %v, want a timeout naming %v", err, errno)
				}
			})
		})
	}
}
