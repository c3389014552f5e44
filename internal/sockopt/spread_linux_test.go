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
