package sockopt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// TestSpreadSourcesSockets attaches the program to a real group of
// SO_REUSEPORT sockets on 127.0.0.1 (4 hashed, one quarantine) and sends
// from 32 loopback addresses (127.0.0.0/8 is all local), 3 ports each:
// every source address lands on one socket, the one the VM computes,
// whatever its port, and every hashed socket gets some. Then it attaches
// a program that jails 3 of the sources in place of the first (as the
// server does when it detects a flood): those land on the quarantine
// socket, the others where they were.
func TestSpreadSourcesSockets(t *testing.T) {
	const n = 4
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error { return ReusePort(c) }}
	socks := make([]*net.UDPConn, n+1)
	for i := range socks {
		addr := "127.0.0.1:0"
		if i > 0 {
			addr = socks[0].LocalAddr().String()
		}
		pc, err := lc.ListenPacket(context.Background(), "udp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		socks[i] = pc.(*net.UDPConn)
	}
	rc, err := socks[0].SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	const sources = 32
	src := func(s int) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + s)}) }
	jailed := []netip.Addr{src(3), src(17), netip.AddrFrom16(src(30).As16())} // the last one v4-mapped
	for _, sp := range []Spread{
		{Sockets: n, Mul: RandomMultiplier()},
		{Sockets: n, Mul: testMul},
		{Sockets: n, Mul: testMul, Jailed: jailed},
	} {
		prog, err := sp.Program()
		if err != nil {
			t.Fatal(err)
		}
		if err := AttachReusePortCBPF(rc, prog); err != nil {
			if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOPROTOOPT) {
				t.Skipf("kernel refuses SO_ATTACH_REUSEPORT_CBPF: %v", err)
			}
			t.Fatal(err)
		}
		got, perSocket := sendAll(t, socks, sources, src)
		for a, m := range got {
			want := runProgram(t, sp, a)
			if len(m) != 1 || m[want] != 3 {
				t.Errorf("%d jailed: %v: sockets %v, want all 3 datagrams on socket %d", len(sp.Jailed), a, m, want)
			}
		}
		for i, k := range perSocket[:n] {
			if k == 0 {
				t.Errorf("socket %d received nothing: %v", i, perSocket)
			}
		}
		if want := 3 * len(sp.Jailed); perSocket[n] != want {
			t.Errorf("quarantine socket got %d datagrams, want %d", perSocket[n], want)
		}
		t.Log(fmt.Sprint(len(sp.Jailed), " jailed: datagrams per socket: ", perSocket))
	}
}

// sendAll sends 3 datagrams from each source, each from a port of its
// own, to the group and reads them back: the sockets each source reached
// and the datagrams each socket got.
func sendAll(t *testing.T, socks []*net.UDPConn, sources int, src func(int) netip.Addr) (map[netip.Addr]map[int]int, []int) {
	t.Helper()
	to := socks[0].LocalAddr().(*net.UDPAddr).AddrPort()
	for s := range sources {
		for range 3 {
			c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src(s), 0)), net.UDPAddrFromAddrPort(to))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte(src(s).String())); err != nil {
				t.Fatal(err)
			}
			c.Close()
		}
	}
	got := make(map[netip.Addr]map[int]int)
	perSocket := make([]int, len(socks))
	buf := make([]byte, 64)
	for i, c := range socks {
		for {
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			k, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				break
			}
			a := from.Addr().Unmap()
			if string(buf[:k]) != a.String() {
				t.Fatalf("socket %d: %q from %v", i, buf[:k], from)
			}
			if got[a] == nil {
				got[a] = make(map[int]int)
			}
			got[a][i]++
			perSocket[i]++
		}
	}
	if len(got) != sources {
		t.Fatalf("heard from %d sources, want %d", len(got), sources)
	}
	return got, perSocket
}

// TestSpreadTagsSockets runs the tag check in the kernel, on a real group
// of SO_REUSEPORT sockets (2 hashed, one quarantine) on 127.0.0.1 and on
// ::1: a jailed source's datagram whose cookie begins with one of its
// tags lands on the socket the hash picks for it, one without COOKIE,
// with a wrong tag, another source's or too short on the quarantine
// socket, and a source that is not jailed where the hash puts it.
func TestSpreadTagsSockets(t *testing.T) {
	for _, fam := range []struct {
		network, group string
		jailed, free   netip.Addr
	}{
		{"udp4", "127.0.0.1:0", netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")},
		{"udp6", "[::1]:0", netip.MustParseAddr("::1"), netip.Addr{}},
	} {
		t.Run(fam.network, func(t *testing.T) {
			const n = 2
			lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error { return ReusePort(c) }}
			socks := make([]*net.UDPConn, n+1)
			for i := range socks {
				addr := fam.group
				if i > 0 {
					addr = socks[0].LocalAddr().String()
				}
				pc, err := lc.ListenPacket(context.Background(), fam.network, addr)
				if err != nil {
					if i == 0 && fam.network == "udp6" {
						t.Skipf("no IPv6 loopback: %v", err)
					}
					t.Fatal(err)
				}
				defer pc.Close()
				socks[i] = pc.(*net.UDPConn)
			}
			rc, err := socks[0].SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			sp := Spread{Sockets: n, Mul: testMul,
				Jailed: []netip.Addr{netip.MustParseAddr("127.0.0.9"), fam.jailed, netip.MustParseAddr("fd18::1")},
				Tags:   [][2]uint32{{0x77777777, 0x88888888}, {0x11111111, 0x22222222}, {0x99999999, 0x99999999}},
			}
			prog, err := sp.Program()
			if err != nil {
				t.Fatal(err)
			}
			if err := AttachReusePortCBPF(rc, prog); err != nil {
				if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOPROTOOPT) {
					t.Skipf("kernel refuses SO_ATTACH_REUSEPORT_CBPF: %v", err)
				}
				t.Fatal(err)
			}
			tagged := func(tag uint32) []byte { return datagram(40, tagFlag, tag) }
			type send struct {
				name    string
				src     netip.Addr
				payload []byte
				hashed  bool
			}
			sends := []send{
				{"current tag", fam.jailed, tagged(0x11111111), true},
				{"previous tag", fam.jailed, tagged(0x22222222), true},
				{"shortest", fam.jailed, datagram(24, tagFlag, 0x11111111), true},
				{"wrong tag", fam.jailed, tagged(0x11111110), false},
				{"another jailed source's tag", fam.jailed, tagged(0x77777777), false},
				{"no COOKIE flag", fam.jailed, datagram(40, 0, 0x11111111), false},
				{"23 bytes", fam.jailed, datagram(23, tagFlag, 0x11111111), false},
				{"raw text", fam.jailed, []byte("hi\n"), false},
				{"empty", fam.jailed, nil, false},
			}
			if fam.free.IsValid() {
				sends = append(sends, send{"not jailed", fam.free, datagram(40, 0, 0), true}, send{"not jailed, short", fam.free, []byte("x"), true})
			}
			to := socks[0].LocalAddr().(*net.UDPAddr).AddrPort()
			for _, s := range sends {
				c, err := net.DialUDP(fam.network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.src, 0)), net.UDPAddrFromAddrPort(to))
				if err != nil {
					t.Fatal(err)
				}
				// One datagram at a time, told apart by its source port.
				if _, err := c.Write(s.payload); err != nil {
					t.Fatal(err)
				}
				from := c.LocalAddr().(*net.UDPAddr).AddrPort()
				c.Close()
				want := n
				if s.hashed {
					want = sp.Index(s.src)
					if want == n { // jailed: where the hash puts it untagged
						want = (Spread{Sockets: n, Mul: testMul}).Index(s.src)
					}
				}
				// The expected socket first, with a deadline for a loaded
				// machine; then the others must be empty.
				got := -1
				buf := make([]byte, 64)
				for _, i := range append([]int{want}, otherThan(want, len(socks))...) {
					wait := 20 * time.Millisecond
					if i == want || got < 0 {
						wait = time.Second
					}
					socks[i].SetReadDeadline(time.Now().Add(wait))
					k, src, err := socks[i].ReadFromUDPAddrPort(buf)
					if err != nil {
						continue
					}
					if src.Port() != from.Port() || string(buf[:k]) != string(s.payload) {
						t.Fatalf("%s: socket %d read %x from %v, want %x from %v", s.name, i, buf[:k], src, s.payload, from)
					}
					got = i
				}
				if got != want {
					t.Errorf("%s from %v: on socket %d, want %d (quarantine %d)", s.name, s.src, got, want, n)
				}
			}
		})
	}
}

// otherThan returns the indexes below n but i.
func otherThan(i, n int) []int {
	var o []int
	for k := range n {
		if k != i {
			o = append(o, k)
		}
	}
	return o
}
