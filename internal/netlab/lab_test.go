package netlab

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/netif"
)

// newLab builds a lab for a test, or skips the test when labs cannot be
// built here.
func newLab(t *testing.T, cfg Config) *Lab {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	l, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// listen opens a UDP socket in h's namespace on addr and an ephemeral port.
func listen(t *testing.T, h *Host, addr netip.Addr) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := h.Do(func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s on %v: %v", h.Name, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo answers every datagram c receives until c is closed.
func echo(c *net.UDPConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		c.WriteToUDPAddrPort(buf[:n], from)
	}
}

// ping sends a datagram from h to dst and waits for the echo, sending
// again every 300 ms for up to tries times.
func ping(t *testing.T, h *Host, dst netip.AddrPort, tries int) error {
	t.Helper()
	c := listen(t, h, netip.IPv6Unspecified())
	if dst.Addr().Is4() {
		c = listen(t, h, netip.IPv4Unspecified())
	}
	buf := make([]byte, 64)
	for range tries {
		if _, err := c.WriteToUDPAddrPort([]byte("ping"), dst); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err == nil && string(buf[:n]) == "ping" {
			return nil
		}
	}
	return errors.New("no echo")
}

// Tries of ping: reachTries for a path that must work (up to 6 s, for a
// loaded machine whose echo goroutine or neighbour resolution stalls),
// unreachTries for one that must not (a stalled echo only makes that pass).
const (
	reachTries   = 20
	unreachTries = 3
)

// rootLinks lists the links of the test's own namespace.
func rootLinks(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ifi := range ifs {
		names = append(names, ifi.Name)
	}
	return names
}

// namespaces lists the named network namespaces.
func namespaces(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	return string(out)
}

func TestResolve(t *testing.T) {
	tests := []struct {
		cfg Config
		err string
	}{
		{Config{Hosts: -1}, "Hosts is -1"},
		{Config{Hosts: 201}, "Hosts is 201"},
		{Config{Loss: 101}, "Loss is 101%"},
		{Config{Loss: -1}, "Loss is -1%"},
		{Config{Prefix: "a b"}, `Prefix "a b"`},
		{Config{Prefix: strings.Repeat("x", 33)}, "Prefix"},
		{Config{Hosts: 3, SecondSegment: []int{3}}, "SecondSegment holds host 3; the lab has hosts 0 to 2"},
	}
	for _, tt := range tests {
		_, err := New(t.Context(), tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("New(%+v) = %v, want an error with %q", tt.cfg, err, tt.err)
		}
	}
	hosts, prefix, inB, err := resolve(Config{SecondSegment: []int{1}})
	if err != nil || hosts != 2 || !prefixRE.MatchString(prefix) || !strings.HasPrefix(prefix, "uk") || !slices.Equal(inB, []bool{false, true}) {
		t.Errorf("resolve(zero) = %d, %q, %v, %v", hosts, prefix, inB, err)
	}
}

func TestLab(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	before := rootLinks(t)
	start := time.Now()
	l := newLab(t, Config{Hosts: 3, SecondSegment: []int{0, 2}})
	t.Logf("built %v in %v", l.Namespaces(), time.Since(start))
	if after := rootLinks(t); !slices.Equal(before, after) {
		t.Fatalf("the lab changed the test's own namespace: links %q, then %q", before, after)
	}
	h0, h1, h2 := l.Host(0), l.Host(1), l.Host(2)
	if l.Host(3) != nil || l.Host(-1) != nil || len(l.Hosts()) != 3 {
		t.Fatal("Host or Hosts out of range")
	}
	if h0.IPv4 != netip.MustParseAddr("198.18.0.10") || h2.IPv6 != netip.MustParseAddr("fd18::12") ||
		h2.SecondIPv4 != netip.MustParseAddr("198.18.1.12") || h2.SecondIPv6 != netip.MustParseAddr("fd18:0:0:1::12") ||
		h1.SecondIPv4.IsValid() || !slices.Equal(h1.Ifaces, []string{"eth0"}) || !slices.Equal(h2.Ifaces, []string{"eth0", "eth1"}) {
		t.Fatalf("addresses: %+v %+v %+v", h0, h1, h2)
	}

	t.Run("Command", func(t *testing.T) {
		out, err := h1.Command(t.Context(), "ip", "-br", "addr").CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		for _, want := range []string{"lo ", "eth0@", "198.18.0.11/24", "fd18::11/64", "fe80::"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("ip -br addr in %s lacks %q:\n%s", h1.Name, want, out)
			}
		}
		if strings.Contains(string(out), "tentative") {
			t.Errorf("tentative addresses in %s:\n%s", h1.Name, out)
		}
		out, _ = exec.Command("ip", "-n", l.bridgeNS, "-d", "link", "show", "brA").CombinedOutput()
		if !strings.Contains(string(out), "mcast_snooping 0") {
			t.Errorf("brA snoops multicast:\n%s", out)
		}
	})

	t.Run("unicast", func(t *testing.T) {
		servers := map[*Host]*net.UDPConn{}
		for _, h := range l.Hosts() {
			servers[h] = listen(t, h, netip.IPv6Unspecified()) // dual-stack
			go echo(servers[h])
		}
		port := func(h *Host) uint16 { return uint16(servers[h].LocalAddr().(*net.UDPAddr).Port) }
		var ll netip.Addr // h1's link-local address, as netif sees it
		err := h1.Do(func() error {
			sel, err := netif.Select("eth0")
			if err == nil {
				ll = sel.Interfaces[0].IPv6LinkLocal
			}
			return err
		})
		if err != nil || !ll.IsValid() {
			t.Fatalf("link-local of h1: %v, %v", ll, err)
		}
		// The zone must be h0's eth0 as an index: a zone name would be
		// looked up in the namespace of the thread that sends.
		var zone string
		err = h0.Do(func() error {
			ifi, err := net.InterfaceByName("eth0")
			if err == nil {
				zone = strconv.Itoa(ifi.Index)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name string
			from *Host
			to   netip.AddrPort
		}{
			{"IPv4 h0 to h1", h0, netip.AddrPortFrom(h1.IPv4, port(h1))},
			{"IPv4 h1 to h2", h1, netip.AddrPortFrom(h2.IPv4, port(h2))},
			{"IPv6 h0 to h2", h0, netip.AddrPortFrom(h2.IPv6, port(h2))},
			{"IPv6 link-local h0 to h1", h0, netip.AddrPortFrom(ll.WithZone(zone), port(h1))},
			{"IPv4 segment B h0 to h2", h0, netip.AddrPortFrom(h2.SecondIPv4, port(h2))},
			{"IPv6 segment B h2 to h0", h2, netip.AddrPortFrom(h0.SecondIPv6, port(h0))},
		} {
			if err := ping(t, tt.from, tt.to, reachTries); err != nil {
				t.Errorf("%s (%v): %v", tt.name, tt.to, err)
			}
		}
		// h1 is not on segment B and the bridge namespace does not route.
		if err := ping(t, h1, netip.AddrPortFrom(h2.SecondIPv4, port(h2)), unreachTries); err == nil {
			t.Error("h1 reached segment B")
		}
	})

	t.Run("broadcast", func(t *testing.T) {
		var rx []*net.UDPConn
		for _, h := range []*Host{h1, h2} {
			rx = append(rx, listen(t, h, netip.IPv4Unspecified()))
		}
		// Same port everywhere: bind h2's socket again on h1's port.
		p := uint16(rx[0].LocalAddr().(*net.UDPAddr).Port)
		rx[1].Close()
		err := h2.Do(func() (err error) {
			rx[1], err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.IPv4Unspecified(), p)))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer rx[1].Close()
		tx := listen(t, h0, h0.IPv4)
		if _, err := tx.WriteToUDPAddrPort([]byte("hello"), netip.AddrPortFrom(netip.MustParseAddr("198.18.0.255"), p)); err != nil {
			t.Fatal(err)
		}
		for k, c := range rx {
			c.SetReadDeadline(time.Now().Add(5 * time.Second)) // generous: only a failure waits it out
			buf := make([]byte, 16)
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil || string(buf[:n]) != "hello" || from.Addr().Unmap() != h0.IPv4 {
				t.Errorf("h%d: broadcast %q from %v, %v", k+1, buf[:n], from, err)
			}
		}
	})

	t.Run("multicast", func(t *testing.T) {
		group := netip.MustParseAddr("239.255.18.1")
		var rx *net.UDPConn
		err := h2.Do(func() error {
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			rx, err = net.ListenMulticastUDP("udp4", ifi, net.UDPAddrFromAddrPort(netip.AddrPortFrom(group, 0)))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer rx.Close()
		dst := netip.AddrPortFrom(group, uint16(rx.LocalAddr().(*net.UDPAddr).Port))
		tx := listen(t, h0, h0.IPv4) // leaves by eth0: the default route
		if _, err := tx.WriteToUDPAddrPort([]byte("hello"), dst); err != nil {
			t.Fatal(err)
		}
		rx.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 16)
		n, from, err := rx.ReadFromUDPAddrPort(buf)
		if err != nil || string(buf[:n]) != "hello" || from.Addr().Unmap() != h0.IPv4 {
			t.Errorf("multicast %q from %v, %v", buf[:n], from, err)
		}
	})

	t.Run("netif", func(t *testing.T) {
		err := h2.Do(func() error {
			sel, err := netif.Select()
			if err != nil {
				return err
			}
			if got := sel.Names(); !slices.Equal(got, []string{"eth0", "eth1"}) {
				t.Errorf("default selection in h2: %q", got)
			}
			// Needs `ip route` run inside the namespace.
			sel, err = netif.Select(`{{ GetDefaultInterfaces | include "type" "IPv4" }}`)
			if err != nil {
				return err
			}
			if got := sel.Names(); !slices.Equal(got, []string{"eth0"}) {
				t.Errorf("default-route interface in h2: %q", got)
			}
			sel, err = netif.Select(`{{ GetPrivateInterfaces | include "network" "198.18.1.0/24" }}`)
			if err != nil {
				return err
			}
			if got := sel.Names(); !slices.Equal(got, []string{"eth1"}) {
				t.Errorf("segment B in h2: %q", got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("loss", func(t *testing.T) {
		if _, err := exec.LookPath("nft"); err != nil {
			t.Skip("no nft: ", err)
		}
		rx := listen(t, h1, h1.IPv4)
		dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
		tx := listen(t, h0, h0.IPv4)
		// count sends n datagrams, each tagged with its round, and counts
		// those of this round that arrive. The receiver stops only after
		// the last one was sent and then 300 ms passed without one, so a
		// stalled sender or receiver on a loaded machine neither cuts a
		// round short nor leaves its datagrams to the next round (which
		// skips them by their tag).
		round := byte(0)
		count := func(n int) int {
			round++
			sent := make(chan struct{})
			got := make(chan int)
			go func() {
				k := 0
				buf := make([]byte, 16)
				done := false
				for {
					rx.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
					m, _, err := rx.ReadFromUDPAddrPort(buf)
					if err != nil {
						if !done {
							select {
							case <-sent:
								done = true // one more quiet period after the last send
							default:
							}
							continue
						}
						got <- k
						return
					}
					if m == 2 && buf[0] == 'x' && buf[1] == round {
						k++
					}
				}
			}()
			for range n {
				if _, err := tx.WriteToUDPAddrPort([]byte{'x', round}, dst); err != nil {
					t.Errorf("send: %v", err)
				}
				time.Sleep(100 * time.Microsecond)
			}
			close(sent)
			return <-got
		}
		// Resolve neighbours while nothing is lost.
		if got := count(10); got != 10 {
			t.Fatalf("no loss: %d of 10 arrived", got)
		}
		for _, tt := range []struct{ loss, n, min, max int }{
			{30, 200, 110, 170}, // mean 140, σ ≈ 6.5
			{100, 20, 0, 0},
			{0, 50, 50, 50},
		} {
			if err := l.SetLoss(tt.loss); err != nil {
				t.Fatal(err)
			}
			got := count(tt.n)
			t.Logf("loss %d%%: %d of %d arrived", tt.loss, got, tt.n)
			if got < tt.min || got > tt.max {
				t.Errorf("loss %d%%: %d of %d arrived, want %d to %d", tt.loss, got, tt.n, tt.min, tt.max)
			}
		}
		if err := l.SetLoss(101); err == nil {
			t.Error("SetLoss(101) succeeded")
		}
	})

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if ns := namespaces(t); strings.Contains(ns, l.prefix) {
		t.Errorf("namespaces left after Close:\n%s", ns)
	}
	if after := rootLinks(t); !slices.Equal(before, after) {
		t.Errorf("links of the test's namespace: %q before, %q after", before, after)
	}
	if err := l.SetLoss(0); err == nil {
		t.Error("SetLoss on a closed lab succeeded")
	}
}

// TestNewCleansUp makes New fail half-way, on a namespace name that is
// taken, and checks that it removed what it had built and nothing else.
func TestNewCleansUp(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	prefix := "uk" + randomHex(3)
	taken := prefix + "-h2"
	if err := ip(t.Context(), "netns", "add", taken); err != nil {
		t.Fatal(err)
	}
	defer ip(t.Context(), "netns", "del", taken)
	l, err := New(t.Context(), Config{Hosts: 3, Prefix: prefix, Loss: 10})
	if err == nil {
		l.Close()
		t.Fatal("New succeeded with a namespace name taken")
	}
	t.Log(err)
	ns := namespaces(t)
	if !strings.Contains(ns, taken) {
		t.Errorf("New removed a namespace it did not create:\n%s", ns)
	}
	for _, name := range []string{prefix + "-br", prefix + "-h0", prefix + "-h1"} {
		if strings.Contains(ns, name+" ") || strings.Contains(ns, name+"\n") {
			t.Errorf("New left %s behind:\n%s", name, ns)
		}
	}
}
