package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"
)

// recording is a udpserver on 127.0.0.1 that records what its handler saw.
type recording struct {
	name string
	srv  *udpserver.Server
	addr netip.AddrPort
	mu   sync.Mutex
	seen []string // "sender/id"
}

func startRecording(t *testing.T, name string, refuse error) *recording {
	t.Helper()
	r := &recording{name: name}
	r.srv = &udpserver.Server{Handler: udpserver.HandlerFunc(func(_ context.Context, q *udpserver.Request) error {
		r.mu.Lock()
		r.seen = append(r.seen, q.Remote.String()+"/"+strconv.FormatUint(q.ID, 16))
		r.mu.Unlock()
		return refuse
	})}
	pc, err := udpserver.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	go r.srv.Serve(pc)
	t.Cleanup(func() { r.srv.Close() })
	return r
}

func (r *recording) instance() discovery.Instance {
	return discovery.Instance{Service: "_udpkit._udp", Instance: r.name, Addrs: []netip.AddrPort{r.addr}}
}

func (r *recording) handled() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

func TestServiceFailover(t *testing.T) {
	busy := startRecording(t, "busy", udpserver.Reject(wire.CodeBusy, "full"))
	good := startRecording(t, "good", nil)
	spare := startRecording(t, "spare", nil)
	// Every failover here is on an answer (NACK busy) or a refusal, never
	// on a timeout: a generous one only keeps a server stalled on a loaded
	// machine from being given up (with 50 ms, a loaded run gave message 8
	// up with "no server left: busy": the spare passed over, presumably
	// after 50+100+200 ms without its ACK).
	sc, err := NewServiceClient([]discovery.Instance{busy.instance(), good.instance(), spare.instance()},
		ServiceConfig{Client: Config{Retries: 2, InitialTimeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	r, err := sc.Send(t.Context(), []byte("one"))
	if err != nil || r.Server != "good" || r.Failovers != 1 || r.Busy != 1 {
		t.Fatalf("first message: %+v %v; want acked by good after one failover and one NACK busy", r, err)
	}
	// The busy server and the good one saw the same sender and ID.
	if b, g := busy.handled(), good.handled(); len(b) != 1 || len(g) != 1 || b[0] != g[0] {
		t.Errorf("busy saw %q, good saw %q: want the same sender and message ID", b, g)
	}
	r, err = sc.Send(t.Context(), []byte("two"))
	if err != nil || r.Server != "good" || r.Failovers != 0 {
		t.Errorf("second message: %+v %v; want good at once", r, err)
	}

	// The good server goes away: nothing listens, the kernel says so, and
	// the messages move to the spare.
	good.srv.Close()
	var mu sync.Mutex
	by := map[string]int{}
	seq := func(yield func([]byte) bool) {
		for range 50 {
			if !yield([]byte("more")) {
				return
			}
		}
	}
	err = sc.SendAll(t.Context(), seq, func(i int, r ServiceResult, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			t.Errorf("message %d: %v", i, err)
			return
		}
		by[r.Server]++
	})
	if err != nil {
		t.Fatal(err)
	}
	if by["spare"] != 50 {
		t.Errorf("acknowledged by %v, want 50 by spare", by)
	}
}

func TestServiceAllFail(t *testing.T) {
	busy := startRecording(t, "busy", udpserver.Reject(wire.CodeBusy, "full"))
	no := startRecording(t, "no", errors.New("not this"))
	// Timeouts well above a loaded machine's delays: a late NACK busy must
	// not turn into a timeout (seen with 20 ms).
	sc, err := NewServiceClient([]discovery.Instance{busy.instance()}, ServiceConfig{Client: Config{Retries: 2, InitialTimeout: 300 * time.Millisecond, MinTimeout: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	// Busy everywhere: round again after a pause, within the retry budget.
	if r, err := sc.Send(t.Context(), []byte("x")); !errors.Is(err, ErrNoServer) || !errors.Is(err, ErrRejected) || r.Attempts != 3 || r.Busy != 3 {
		t.Errorf("every server busy: %+v %v, want 3 attempts, 3 busy, ErrNoServer and ErrRejected", r, err)
	}
	sc2, err := NewServiceClient([]discovery.Instance{no.instance(), busy.instance()}, ServiceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer sc2.Close()
	if r, err := sc2.Send(t.Context(), []byte("x")); !errors.Is(err, ErrRejected) || errors.Is(err, ErrNoServer) || r.Server != "no" {
		t.Errorf("rejected: %+v %v, want the rejection of the first server, no failover", r, err)
	}
	if n := len(busy.handled()); n != 3 {
		t.Errorf("busy server handled %d, want 3 (the first test only)", n)
	}
	if _, err := NewServiceClient([]discovery.Instance{{Instance: "x"}}, ServiceConfig{}); !errors.Is(err, ErrNoServer) {
		t.Errorf("no address: %v, want ErrNoServer", err)
	}
}

func TestPickAddr(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		addrs []netip.AddrPort
		want4 bool
		want  netip.AddrPort
	}{
		{[]netip.AddrPort{ap("[fe80::1%eth0]:1"), ap("[fd18::1]:1"), ap("198.18.0.1:1")}, true, ap("198.18.0.1:1")},
		{[]netip.AddrPort{ap("[fe80::1%eth0]:1"), ap("[fd18::1]:1")}, true, ap("[fd18::1]:1")},
		{[]netip.AddrPort{ap("198.18.0.1:1"), ap("[fd18::1]:1")}, false, ap("[fd18::1]:1")},
		{[]netip.AddrPort{ap("0.0.0.0:1"), ap("198.18.0.1:0")}, true, netip.AddrPort{}},
	} {
		if got, _ := pickAddr(tc.addrs, tc.want4); got != tc.want {
			t.Errorf("pickAddr(%v, %v) = %v, want %v", tc.addrs, tc.want4, got, tc.want)
		}
	}
}

// silent is a socket on 127.0.0.1 that reads every datagram and never
// answers: a server that died without the kernel saying so.
func silent(t *testing.T, name string) discovery.Instance {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		b := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(b); err != nil {
				return
			}
		}
	}()
	return discovery.Instance{Service: "_udpkit._udp", Instance: name, Addrs: []netip.AddrPort{pc.LocalAddr().(*net.UDPAddr).AddrPort()}}
}

// A silent server costs each message TriesPerServer timeouts, not its
// whole retry budget: with --retries 15 the messages move to the good
// server after two timeouts (well under a second), with the same ID. And
// the budget is the message's: Retries+1 transmissions across all servers.
func TestServiceSilentServerFailsOverPromptly(t *testing.T) {
	good := startRecording(t, "good", nil)
	sc, err := NewServiceClient([]discovery.Instance{silent(t, "silent"), good.instance()},
		ServiceConfig{Client: Config{Retries: 15, Window: 8}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	// Generous: before the fix the first message alone waited out 16
	// transmissions (about 45 s) at the silent server.
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	seq := func(yield func([]byte) bool) {
		for range 20 {
			if !yield([]byte("x")) {
				return
			}
		}
	}
	acked := 0
	err = sc.SendAll(ctx, seq, func(i int, r ServiceResult, err error) {
		if err != nil || r.Server != "good" {
			t.Errorf("message %d: %+v %v, want acked by good", i, r, err)
			return
		}
		if r.Failovers > 0 && r.Attempts != DefaultTriesPerServer+1 {
			t.Errorf("message %d: %d attempts after %d failovers, want %d", i, r.Attempts, r.Failovers, DefaultTriesPerServer+1)
		}
		acked++
	})
	if err != nil || acked != 20 {
		t.Fatalf("%d of 20 acked: %v", acked, err)
	}

	// Both silent: exactly Retries+1 transmissions in all, shared.
	sc2, err := NewServiceClient([]discovery.Instance{silent(t, "a"), silent(t, "b")},
		ServiceConfig{Client: Config{Retries: 6, InitialTimeout: 10 * time.Millisecond, MaxTimeout: 40 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc2.Close()
	r, err := sc2.Send(t.Context(), []byte("x"))
	if !errors.Is(err, ErrNoServer) || !errors.Is(err, ErrTimeout) || r.Attempts != 7 || r.Failovers != 3 {
		t.Errorf("both silent: %+v %v, want 7 attempts over 4 visits, ErrNoServer and ErrTimeout", r, err)
	}
}

// TestUncontestedFirst: DialService tries servers whose name another
// source also claims (a forger answering faster than the real server)
// after every uncontested one, each group in the order found.
func TestUncontestedFirst(t *testing.T) {
	mk := func(name, src string, conflict bool) discovery.Instance {
		return discovery.Instance{Instance: name, Source: netip.MustParseAddrPort(src), Conflict: conflict}
	}
	// real1's forger (.66) was reported first, unmarked, then the server
	// (.10, marked, late) and the forger again, marked.
	got := uncontestedFirst([]discovery.Instance{mk("real1", "198.18.0.66:9798", false), mk("real2", "198.18.0.11:1", false),
		mk("real1", "198.18.0.10:1", true), mk("real1", "198.18.0.66:9798", true), mk("x", "198.18.0.67:1", true), mk("real3", "198.18.0.12:1", false)})
	var names []string
	for _, in := range got {
		names = append(names, fmt.Sprintf("%s/%s/%v", in.Instance, in.Source.Addr(), in.Conflict))
	}
	if want := "[real2/198.18.0.11/false real3/198.18.0.12/false real1/198.18.0.66/true real1/198.18.0.10/true x/198.18.0.67/true]"; fmt.Sprint(names) != want {
		t.Errorf("order %v, want %s", names, want)
	}
}

// TestServiceOneFamily: the servers are reached in the family most of them
// have, so a message failed over keeps its source address (the stream's
// identity of the sender); one reachable only in the other family comes
// last. The check's case: store-a IPv6 only, store-b dual-stack, found in
// either order: both reached over IPv6.
func TestServiceOneFamily(t *testing.T) {
	ap := netip.MustParseAddrPort
	a := discovery.Instance{Instance: "store-a", Addrs: []netip.AddrPort{ap("[fd18::1]:9797")}}
	b := discovery.Instance{Instance: "store-b", Addrs: []netip.AddrPort{ap("198.18.0.2:9797"), ap("[fd18::2]:9797")}}
	c := discovery.Instance{Instance: "store-c", Addrs: []netip.AddrPort{ap("198.18.0.3:9797")}}
	for _, tc := range []struct {
		in   []discovery.Instance
		want string
	}{
		{[]discovery.Instance{a, b}, "[store-a [fd18::1]:9797 store-b [fd18::2]:9797]"},
		{[]discovery.Instance{b, a}, "[store-b [fd18::2]:9797 store-a [fd18::1]:9797]"},
		// Two have IPv4: IPv4, the IPv6-only server last.
		{[]discovery.Instance{a, b, c}, "[store-b 198.18.0.2:9797 store-c 198.18.0.3:9797 store-a [fd18::1]:9797]"},
	} {
		sc, err := NewServiceClient(tc.in, ServiceConfig{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i, in := range sc.Servers() {
			got = append(got, in.Instance, sc.addrs[i].String())
		}
		if fmt.Sprint(got) != tc.want {
			t.Errorf("%v: %v, want %s", tc.in, got, tc.want)
		}
	}
}
