package udpserver

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// TestForgedFloodJailedVictim is the flood forged with the victim's own
// address that jails the victim with it (SECURITY.md "Floods"): from
// another port of the victim's address (on loopback, as a raw socket
// would forge it on a LAN), DATA over the rate limit as fast as one
// goroutine can send, on a server with 2 sockets and the quarantine. The
// address is jailed; the victim, a client that echoes its cookie as
// PROTOCOL.md 3.1 says, then sends 100 messages one at a time. Its
// datagrams carry its host tag, so the kernel hashes them to its own
// socket, which the forgeries no longer reach: every one is read on a
// hashed socket (the handler looks at the socket of its request), none on
// the quarantine socket. Before host tags they all shared the quarantine
// socket's queue with the flood, which drops them at random once the
// flood outpaces the quarantine's workers (bench/floodbench.sh
// CASES=forged, BENCHMARKS.md "Floods").
func TestForgedFloodJailedVictim(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_ATTACH_REUSEPORT_CBPF is Linux's")
	}
	for _, fam := range []struct{ network, addr, victim string }{
		{"udp4", "127.0.0.1:0", "127.0.0.1"},
		{"udp6", "[::1]:0", "::1"},
	} {
		t.Run(fam.network, func(t *testing.T) {
			var mu sync.Mutex
			var victimPort uint16
			readOn := map[uint64]int{} // the victim's message ID: fd of the socket that read it
			s := &Server{Sockets: 2, RateLimit: 1000, jailHold: time.Minute,
				Handler: HandlerFunc(func(_ context.Context, r *Request) error {
					mu.Lock()
					defer mu.Unlock()
					if r.Remote.Port() == victimPort {
						readOn[r.ID] = fdOf(t, r.ex.p.c.(*udpConn).c)
					}
					return nil
				})}
			addr := serve(t, s, fam.network, fam.addr)
			victim := dial(t, fam.network, addr)
			mu.Lock()
			victimPort = victim.LocalAddr().(*net.UDPAddr).AddrPort().Port()
			mu.Unlock()
			fc := dial(t, fam.network, addr) // the forger: the victim's address, another port
			var stop atomic.Bool
			flooded := make(chan struct{})
			go func() {
				defer close(flooded)
				b := make([]byte, 0, 64)
				for id := uint64(1 << 40); !stop.Load(); id++ {
					fc.Write(wire.AppendData(b[:0], id, []byte("forged forged forged forged")))
				}
			}()
			defer func() { stop.Store(true); <-flooded }()
			deadline := time.Now().Add(waitTimeout)
			for s.Stats().Jailed == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if st := s.Stats(); st.Jailed != 1 {
				t.Fatalf("the forged flood is not jailed: Jailed %d, received %d", st.Jailed, st.Received)
			}
			// The victim: DATA with a fresh ID, retransmitted every 200 ms
			// until its ACK comes; a cookie NACK gives it the cookie it
			// echoes from then on, and the message is sent again at once.
			var cookie wire.Cookie
			has := false
			buf := make([]byte, 2048)
			send := func(id uint64) (timeouts int) {
				for tries := 0; tries < 50; {
					msg := wire.AppendData(nil, id, []byte("temperature=21.5"))
					if has {
						msg = wire.AppendDataCookie(nil, id, []byte("temperature=21.5"), cookie)
					}
					victim.Write(msg)
					tries++
					victim.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
					for {
						n, err := victim.Read(buf)
						if err != nil {
							timeouts++
							break
						}
						h, _, err := wire.Parse(buf[:n])
						if err != nil || h.ID != id {
							continue
						}
						if h.Type == wire.TypeAck {
							return timeouts
						}
						if c, ok := wire.CookieOf(h, buf[:n]); ok && h.Type == wire.TypeNack {
							cookie, has = c, true
							break // sent again at once with it
						}
					}
				}
				t.Fatalf("message %d: no ACK in 50 transmissions", id)
				return
			}
			// Until the victim holds a cookie its datagrams share the
			// quarantine's queue with the forgeries: not counted.
			for id := uint64(1); !has; id++ {
				send(id)
				if time.Now().After(deadline) {
					t.Fatal("the victim never got a cookie")
				}
			}
			const msgs = 100
			lost := 0
			for id := range uint64(msgs) {
				lost += send(1000 + id)
			}
			st := s.Stats()
			if st.Jailed != 1 {
				t.Errorf("the forged flood left the jail during the test: Jailed %d", st.Jailed)
			}
			// The hashed sockets, as their workers registered them.
			g := s.jails[0]
			g.hashedMu.Lock()
			var hashed []int
			for _, q := range g.hashed {
				hashed = append(hashed, fdOfRaw(t, q.mem.rc))
			}
			g.hashedMu.Unlock()
			mu.Lock()
			quarantined := 0
			for id := range uint64(msgs) {
				if fd, ok := readOn[1000+id]; !ok {
					t.Fatalf("message %d acknowledged but not handled", 1000+id)
				} else if !slices.Contains(hashed, fd) {
					quarantined++
				}
			}
			mu.Unlock()
			t.Logf("%d of %d messages read on the quarantine socket (hashed sockets fds %v); %d timeouts; cookies valid %d, received %d",
				quarantined, msgs, hashed, lost, st.CookieValid, st.Received)
			if quarantined > 0 || len(hashed) != 2 {
				t.Errorf("%d of %d messages of a jailed victim that echoes its cookie were read on the quarantine socket, want 0 (%d hashed sockets)", quarantined, msgs, len(hashed))
			}
		})
	}
}

// fdOf returns c's file descriptor (the number, to tell sockets apart).
func fdOf(t *testing.T, c *net.UDPConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		t.Error(err)
		return -1
	}
	return fdOfRaw(t, rc)
}

func fdOfRaw(t *testing.T, rc syscall.RawConn) int {
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Error(err)
	}
	return fd
}

// TestJailHostTags: a jailed source's tags in the program are its
// cookies' first 4 bytes, of this epoch and the last; the epoch tick
// renews them; a jailed source seen heavy on a hashed socket after
// jailProvedGrace (only its tagged datagrams arrive there: it floods while
// echoing its own cookie) loses them, and the quarantine's verdict, or a
// hashed socket's within the grace (the backlog from before the jail),
// does not take them. Without cookies there are no tags.
func TestJailHostTags(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_ATTACH_REUSEPORT_CBPF is Linux's")
	}
	var clock int64 = 10 * int64(cookieEpoch)
	s := &Server{RateLimit: 1000, jailHold: time.Hour}
	s.clock = func() int64 { return clock }
	s.init()
	socks := reusePortGroup(t, 3)
	rc, _ := socks[0].SyscallConn()
	g := newJailGroup(s, rc, 2, 0x9e3779b1)
	defer g.close()
	a, b := jailKeyOf(netip.MustParseAddr("198.18.0.1")), jailKeyOf(netip.MustParseAddr("fd18:0:0:5::1"))
	g.heavy([]jailKey{a, b}, false)
	tags := func() [][2]uint32 {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.spread().Tags
	}
	var scr [32]byte
	tagOf := func(ap string, now int64) uint32 {
		c := s.cookies.make(netip.MustParseAddrPort(ap), now, &scr)
		return binary.BigEndian.Uint32(c[:4])
	}
	ep := int64(cookieEpoch)
	want := [][2]uint32{
		{tagOf("198.18.0.1:4000", clock), tagOf("198.18.0.1:9", clock-ep)},
		{tagOf("[fd18:0:0:5:abcd::7]:4000", clock), tagOf("[fd18:0:0:5::1]:1", clock-ep)},
	}
	if got := tags(); !slices.Equal(got, want) {
		t.Fatalf("tags %x, want the cookies' first words %x", got, want)
	}
	if g.epoch == nil {
		t.Fatal("no epoch timer while sources are jailed")
	}
	clock += ep
	g.tick()
	if got := tags(); got[0] != [2]uint32{tagOf("198.18.0.1:1", clock), want[0][0]} {
		t.Errorf("after the epoch tick: tags %x, want this epoch's and the last's", got)
	}
	gen := g.gen.Load()
	// Jailed at 10 epochs; now 11: past the grace. The quarantine's
	// verdict keeps the tags; a hashed socket's takes a's.
	g.heavy([]jailKey{a}, true)
	if got := tags(); got[0] == [2]uint32{} || g.gen.Load() != gen {
		t.Errorf("the quarantine's verdict took the tags: %x", got)
	}
	g.heavy([]jailKey{a}, false)
	if got := tags(); got[0] != [2]uint32{} || got[1] == [2]uint32{} || g.gen.Load() == gen {
		t.Errorf("a jailed source heavy on a hashed socket keeps its tags: %x", got)
	}
	// Within the grace of its jail: the backlog, not the tag.
	c := jailKeyOf(netip.MustParseAddr("198.18.0.3"))
	g.heavy([]jailKey{c}, false)
	clock += int64(jailProvedGrace) / 2
	g.heavy([]jailKey{c}, false)
	if got := tags(); len(got) != 3 || got[2] == [2]uint32{} {
		t.Errorf("heavy on a hashed socket within the grace: tags %x", got)
	}
	// Without cookies (no RateLimit) the program has no tags.
	ns := &Server{jailHold: time.Hour}
	ns.init()
	ng := newJailGroup(ns, rc, 2, 0x9e3779b1)
	defer ng.close()
	ng.heavy([]jailKey{a}, false)
	ng.mu.Lock()
	sp := ng.spread()
	ng.mu.Unlock()
	if sp.Tags[0] != [2]uint32{} || ng.epoch != nil {
		t.Errorf("without cookies: tags %x, epoch timer %v", sp.Tags, ng.epoch != nil)
	}
}

// TestCookieHostTag: a cookie's first 4 bytes are its host's tag (one for
// every port of an IPv4 address, every address of an IPv6 /64), its last
// 4 the sender's (address and port); the tag changes with the epoch and
// the host, and hostTags gives this epoch's and the last's.
func TestCookieHostTag(t *testing.T) {
	j, err := newCookieJar(10)
	if err != nil {
		t.Fatal(err)
	}
	var scr [32]byte
	ep := int64(cookieEpoch)
	now := 7*ep + 5
	ck := func(ap string, now int64) wire.Cookie { return j.make(netip.MustParseAddrPort(ap), now, &scr) }
	tag := func(c wire.Cookie) uint32 { return binary.BigEndian.Uint32(c[:4]) }
	for _, tc := range []struct {
		a, b     string
		sameHost bool
	}{
		{"198.18.0.1:1000", "198.18.0.1:2000", true},
		{"198.18.0.1:1000", "[::ffff:198.18.0.1]:3000", true},
		{"[fd18:0:0:5::1]:1000", "[fd18:0:0:5:aaaa:bbbb:cccc:dddd]:1000", true},
		{"198.18.0.1:1000", "198.18.0.2:1000", false},
		{"[fd18:0:0:5::1]:1000", "[fd18:0:0:6::1]:1000", false},
		{"[::ffff:198.18.0.1]:1000", "[::c612:1]:1000", false},
	} {
		ca, cb := ck(tc.a, now), ck(tc.b, now)
		if (tag(ca) == tag(cb)) != tc.sameHost {
			t.Errorf("%s %x, %s %x: same tag %v, want %v", tc.a, ca, tc.b, cb, tag(ca) == tag(cb), tc.sameHost)
		}
		if ca == cb {
			t.Errorf("%s and %s: one cookie %x", tc.a, tc.b, ca)
		}
		if tag(ca) == 0 {
			t.Errorf("%s: tag 0", tc.a)
		}
	}
	a := netip.MustParseAddr("198.18.0.1")
	if got, want := j.hostTags(a, now), [2]uint32{tag(ck("198.18.0.1:1", now)), tag(ck("198.18.0.1:1", now-ep))}; got != want || got[0] == got[1] {
		t.Errorf("hostTags %x, want this epoch's and the last's %x, distinct", got, want)
	}
	// The tag is not the sender MAC of another input: the domain byte.
	c := ck("198.18.0.1:0", now)
	if binary.BigEndian.Uint32(c[4:]) == tag(c) {
		t.Errorf("port 0: the tag equals the sender MAC %x", c)
	}
}
