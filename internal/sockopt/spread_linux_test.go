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
// SO_REUSEPORT sockets on 127.0.0.1 and sends from 32 loopback addresses
// (127.0.0.0/8 is all local), 3 ports each: every source address lands on
// one socket, the one the VM computes, whatever its port, and every socket
// gets some.
func TestSpreadSourcesSockets(t *testing.T) {
	const n = 4
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error { return ReusePort(c) }}
	socks := make([]*net.UDPConn, n)
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
	prog, err := SpreadSources(n)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := socks[0].SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := AttachReusePortCBPF(rc, prog); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOPROTOOPT) {
			t.Skipf("kernel refuses SO_ATTACH_REUSEPORT_CBPF: %v", err)
		}
		t.Fatal(err)
	}
	to := socks[0].LocalAddr().(*net.UDPAddr).AddrPort()
	const sources, ports = 32, 3
	for s := range sources {
		src := netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + s)})
		for range ports {
			c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(to))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte(src.String())); err != nil {
				t.Fatal(err)
			}
			c.Close()
		}
	}
	got := make(map[netip.Addr]map[int]int)
	perSocket := make([]int, n)
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
	for a, m := range got {
		want := runSpread(t, n, a)
		if len(m) != 1 || m[want] != ports {
			t.Errorf("%v: sockets %v, want all %d datagrams on socket %d", a, m, ports, want)
		}
	}
	for i, k := range perSocket {
		if k == 0 {
			t.Errorf("socket %d received nothing: %v", i, perSocket)
		}
	}
	t.Log(fmt.Sprint("datagrams per socket: ", perSocket))
}
