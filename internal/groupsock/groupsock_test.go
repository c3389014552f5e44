package groupsock_test

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/groupsock"
	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/netif"
)

// Every test here joins or sends to groups, so it runs only inside the
// namespaces of a netlab LAN and skips without root.

func newLab(t *testing.T) *netlab.Lab {
	t.Helper()
	if err := netlab.Available(); err != nil {
		t.Skip("group socket tests need a namespace LAN:", err)
	}
	lab, err := netlab.New(t.Context(), netlab.Config{Hosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	return lab
}

// listen opens a group socket inside h's namespace on h's LAN interfaces.
func listen(t *testing.T, h *netlab.Host, cfg groupsock.Config) *groupsock.Conn {
	t.Helper()
	var c *groupsock.Conn
	err := h.Do(func() error {
		if cfg.Interfaces == nil {
			sel, err := netif.Select()
			if err != nil {
				return err
			}
			cfg.Interfaces = sel.Interfaces
		}
		var err error
		c, err = groupsock.Listen(t.Context(), cfg)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ifaces(t *testing.T, h *netlab.Host) []netif.Interface {
	t.Helper()
	var out []netif.Interface
	if err := h.Do(func() error {
		sel, err := netif.Select()
		out = sel.Interfaces
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func read(t *testing.T, c *groupsock.Conn, b []byte) groupsock.Packet {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := c.ReadFrom(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A datagram to the group arrives with its sender, destination, arrival
// interface and TTL, over IPv4 and IPv6 (where the link-local sender gets
// its zone); a join that fails on one interface leaves the others.
func TestGroupDatagram(t *testing.T) {
	lab := newLab(t)
	for _, tc := range []struct {
		family int
		group  netip.Addr
	}{
		{4, netip.MustParseAddr("239.18.0.1")},
		{6, netip.MustParseAddr("ff02::1818")},
	} {
		rx, tx := lab.Host(1), lab.Host(0)
		rxIfs := ifaces(t, rx)
		bogus := netif.Interface{Name: "bogus", Index: 999}
		r := listen(t, rx, groupsock.Config{Family: tc.family, Port: 40000 + tc.family, Group: tc.group, Join: true,
			RequireJoin: true, OnlyJoined: true, Interfaces: append(rxIfs, bogus)})
		ms := r.Memberships()
		if len(ms) != len(rxIfs)+1 || ms[len(ms)-1].Err == nil || !r.Joined() {
			t.Fatalf("IPv%d memberships %+v", tc.family, ms)
		}
		s := listen(t, tx, groupsock.Config{Family: tc.family, Group: tc.group, TTL: 3})
		txIf := ifaces(t, tx)[0]
		if err := s.WriteGroup([]byte("hello"), uint16(40000+tc.family), txIf.Index); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64)
		p := read(t, r, b)
		if string(b[:p.N]) != "hello" || p.Dst != tc.group || p.IfIndex != rxIfs[0].Index || p.TTL != 3 {
			t.Errorf("IPv%d: %q %+v", tc.family, b[:p.N], p)
		}
		want := tx.IPv4
		if tc.family == 6 {
			want = txIf.IPv6LinkLocal.WithZone("")
		}
		// The zone is the arrival interface's, by name or by number.
		if src := p.Src.Addr(); src.WithZone("") != want || tc.family == 6 && src.Zone() != rxIfs[0].Name && src.Zone() != strconv.Itoa(rxIfs[0].Index) {
			t.Errorf("IPv%d: source %v, want %v with the zone of %s", tc.family, src, want, rxIfs[0].Name)
		}
		// The answer goes back by unicast out of the arrival interface.
		if err := r.WriteTo([]byte("back"), p.Src, p.IfIndex); err != nil {
			t.Fatal(err)
		}
		if q := read(t, s, b); string(b[:q.N]) != "back" || q.Src.Port() != uint16(40000+tc.family) {
			t.Errorf("IPv%d unicast: %q %+v", tc.family, b[:q.N], q)
		}
	}
}

// Joining fails only when it fails everywhere, and then only on request.
func TestJoinFailsOnlyEverywhere(t *testing.T) {
	lab := newLab(t)
	h := lab.Host(0)
	bogus := []netif.Interface{{Name: "bogus", Index: 999}}
	g := netip.MustParseAddr("239.18.0.2")
	err := h.Do(func() error {
		_, err := groupsock.Listen(t.Context(), groupsock.Config{Family: 4, Group: g, Join: true, RequireJoin: true, Interfaces: bogus})
		return err
	})
	if !errors.Is(err, groupsock.ErrNoMembership) {
		t.Errorf("every join failed: %v, want ErrNoMembership", err)
	}
	c := listen(t, h, groupsock.Config{Family: 4, Group: g, Join: true, Interfaces: bogus})
	if c.Joined() || len(c.Memberships()) != 1 {
		t.Errorf("without RequireJoin: joined %v, %+v", c.Joined(), c.Memberships())
	}
}

// Two sockets share a port with ShareAddrPort (as mDNS responders do) and
// with ShareAddr; without sharing the second bind fails. Close ends a
// ReadFrom in progress.
func TestShareAndClose(t *testing.T) {
	lab := newLab(t)
	h := lab.Host(0)
	for _, sh := range []groupsock.Share{groupsock.ShareAddr, groupsock.ShareAddrPort} {
		a := listen(t, h, groupsock.Config{Family: 4, Port: 45353, Share: sh})
		b := listen(t, h, groupsock.Config{Family: 4, Port: 45353, Share: sh})
		a.Close()
		b.Close()
	}
	listen(t, h, groupsock.Config{Family: 4, Port: 45354})
	if err := h.Do(func() error {
		_, err := groupsock.Listen(t.Context(), groupsock.Config{Family: 4, Port: 45354})
		return err
	}); err == nil {
		t.Error("a second unshared socket bound the port")
	}
	c := listen(t, h, groupsock.Config{Family: 6})
	done := make(chan error, 1)
	go func() {
		_, err := c.ReadFrom(make([]byte, 16))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrom after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end ReadFrom")
	}
}

// WriteToEach delivers one datagram to every address (loopback unicast
// only, so it needs no namespace), with and without an interface index.
func TestWriteToEach(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no loopback interface named lo:", err)
	}
	for _, c := range []struct {
		family  int
		host    string
		ifIndex int
	}{{4, "127.0.0.1", 0}, {4, "127.0.0.1", lo.Index}, {6, "::1", lo.Index}} {
		t.Run(strconv.Itoa(c.family)+"/"+strconv.Itoa(c.ifIndex), func(t *testing.T) {
			var dsts []netip.AddrPort
			var rs []*net.UDPConn
			for range 2 {
				r, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(c.host)})
				if err != nil {
					t.Skip("loopback:", err)
				}
				defer r.Close()
				rs = append(rs, r)
				dsts = append(dsts, r.LocalAddr().(*net.UDPAddr).AddrPort())
			}
			s, err := groupsock.Listen(t.Context(), groupsock.Config{Family: c.family})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i, err := range s.WriteToEach([]byte("each"), dsts, c.ifIndex) {
				if err != nil {
					t.Fatalf("to %v: %v", dsts[i], err)
				}
			}
			buf := make([]byte, 16)
			for i, r := range rs {
				r.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _, err := r.ReadFromUDPAddrPort(buf)
				if err != nil || string(buf[:n]) != "each" {
					t.Fatalf("receiver %d: %q, %v", i, buf[:n], err)
				}
			}
		})
	}
}
