package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/udpkit/udpkit/internal/netlab"
)

// The checks of issue 9, as a user runs them: real udpserver and udpcli
// binaries, real avahi-daemon, avahi-browse and avahi-publish, each Avahi
// in its lab host with a private bus, /run and /etc/avahi/services.

func labAvahi(t *testing.T, h *netlab.Host) *netlab.Avahi {
	t.Helper()
	if err := netlab.AvahiAvailable(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	a, err := h.StartAvahi(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		if t.Failed() {
			t.Logf("avahi on %s:\n%s", h.Name, a.Log())
		}
	})
	return a
}

// waitPublished waits until each server's mDNS names are probed and ours.
func waitPublished(t *testing.T, servers ...*server) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range servers {
		for !strings.Contains(s.cmd.Stderr.(*syncWriter).String(), "names are ours") {
			if time.Now().After(deadline) {
				t.Fatalf("server never owned its mDNS names; stderr:\n%s", s.cmd.Stderr.(*syncWriter).String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// avahiLine is one resolved ("=") line of avahi-browse -p.
type avahiLine struct{ iface, proto, name, typ, host, addr, port, txt string }

// avahiBrowse runs avahi-browse ARGS until it resolved IPv4 lines for
// every name of want, or 20 s passed, and returns its last resolved
// lines. With -t it ends at its "all for now", which on a loaded machine
// can come before a server's answer was read: a user would run it again.
func avahiBrowse(t *testing.T, a *netlab.Avahi, want []string, args ...string) []avahiLine {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := a.Command(ctx, "avahi-browse", args...).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("avahi-browse %v: %v\n%s", args, err, out)
		}
		t.Logf("avahi-browse %s:\n%s", strings.Join(args, " "), out)
		var res []avahiLine
		seen := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			f := strings.Split(sc.Text(), ";")
			if len(f) >= 10 && f[0] == "=" {
				l := avahiLine{f[1], f[2], avahiUnescape(f[3]), f[4], f[6], f[7], f[8], f[9]}
				res = append(res, l)
				seen[l.name] = seen[l.name] || l.proto == "IPv4"
			}
		}
		all := true
		for _, n := range want {
			all = all && seen[n]
		}
		if all || time.Now().After(deadline) {
			return res
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// avahiUnescape decodes the \DDD and \X escapes of avahi-browse -p.
func avahiUnescape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.Atoi(s[i+1 : i+4]); err == nil {
				b = append(b, byte(n))
				i += 3
				continue
			}
		}
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b = append(b, s[i])
	}
	return string(b)
}

func TestMDNSAvahiBrowseSeesServers(t *testing.T) {
	srvBin, _ := build(t)
	lab := newLab(t, netlab.Config{Hosts: 4})
	av := labAvahi(t, lab.Host(3))
	var servers []*server
	for i := 0; i < 3; i++ {
		args := []string{"--quiet", "--mdns", "--instance", fmt.Sprintf("srv %d", i), "--attr", "room=r" + strconv.Itoa(i)}
		if i == 2 {
			args = append(args, "--no-announce") // mDNS without udpkit discovery
		}
		servers = append(servers, labServer(t, lab.Host(i), srvBin, args...))
	}
	waitPublished(t, servers...)
	got := map[string]avahiLine{}
	for _, l := range avahiBrowse(t, av, []string{"srv 0", "srv 1", "srv 2"}, "-rpt", "_udpkit._udp") {
		if l.proto == "IPv4" {
			got[l.name] = l
		}
	}
	for i := 0; i < 3; i++ {
		l, ok := got[fmt.Sprintf("srv %d", i)]
		if !ok || l.addr != lab.Host(i).IPv4.String() || l.port != "9797" || !strings.Contains(l.txt, fmt.Sprintf(`"room=r%d"`, i)) || !strings.Contains(l.txt, `"udpkit=1"`) {
			t.Errorf("srv %d: avahi-browse resolved %+v, want %v port 9797 with room=r%d", i, l, lab.Host(i).IPv4, i)
		}
	}
}

func TestMDNSDiscoverFindsAvahiPublish(t *testing.T) {
	_, cli := build(t)
	lab := newLab(t, netlab.Config{Hosts: 2})
	av := labAvahi(t, lab.Host(1))
	pub := av.Command(context.Background(), "avahi-publish", "-s", "web server", "_http._tcp", "8080", "path=/")
	out := &syncWriter{w: new(bytes.Buffer)}
	pub.Stdout, pub.Stderr = out, out
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Process.Kill(); pub.Wait() })
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "Established"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("avahi-publish: %s", out.String())
		}
	}
	res, code, stderr := discover(t, lab.Host(0), cli, "--mdns", "_http._tcp", "-n", "1", "-t", "5s")
	if code != 0 || len(res) != 1 {
		t.Fatalf("discover --mdns _http._tcp: exit %d, %d instances\n%s", code, len(res), stderr)
	}
	want := lab.Host(1).IPv4.String() + ":8080"
	if res[0].Instance != "web server" || len(res[0].Addrs) == 0 || res[0].Addrs[0] != want {
		t.Errorf("found %+v, want web server at %s", res[0], want)
	}
	t.Logf("found after %.1f ms", res[0].FoundAfter)

	// Nothing of a type nobody publishes: exit 1, as udpkit discovery.
	_, code, _ = discover(t, lab.Host(0), cli, "--mdns", "_ipp._tcp", "-t", "1s")
	if code != 1 {
		t.Errorf("discover --mdns _ipp._tcp with nothing published: exit %d, want 1", code)
	}
}

func TestMDNSNameConflict(t *testing.T) {
	srvBin, _ := build(t)
	lab := newLab(t, netlab.Config{Hosts: 3})
	av := labAvahi(t, lab.Host(2))
	a := labServer(t, lab.Host(0), srvBin, "--quiet", "--mdns", "--instance", "twin")
	b := labServer(t, lab.Host(1), srvBin, "--quiet", "--mdns", "--instance", "twin")
	waitPublished(t, a, b)
	names := map[string]string{}
	for _, l := range avahiBrowse(t, av, []string{"twin", "twin (2)"}, "-rpt", "_udpkit._udp") {
		if l.proto == "IPv4" {
			names[l.name] = l.addr
		}
	}
	if len(names) != 2 || names["twin"] == "" || names["twin (2)"] == "" || names["twin"] == names["twin (2)"] {
		t.Fatalf("avahi-browse resolved %v, want twin and twin (2) at two addresses", names)
	}
}

func TestMDNSSIGTERMGoodbye(t *testing.T) {
	srvBin, _ := build(t)
	lab := newLab(t, netlab.Config{Hosts: 2})
	av := labAvahi(t, lab.Host(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	browse := av.Command(ctx, "avahi-browse", "-p", "_udpkit._udp")
	stdout, err := browse.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := browse.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { browse.Process.Kill(); browse.Wait() })
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	expect := func(prefix string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("avahi-browse ended before a %q line", prefix)
				}
				if strings.HasPrefix(l, prefix) && strings.Contains(l, ";leaving;") {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no %q line from avahi-browse", prefix)
			}
		}
	}
	s := labServer(t, lab.Host(0), srvBin, "--quiet", "--mdns", "--instance", "leaving")
	expect("+;eth0;IPv4")
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	expect("-;eth0;IPv4")
	took := time.Since(start)
	// Avahi keeps a goodbye record one second more (RFC 6762 section
	// 10.1), so about 1 s is the floor; without goodbyes the PTR would
	// stay 75 minutes. Recorded, loosely bounded.
	t.Logf("SIGTERM to removal in avahi-browse: %v", took)
	if took > 5*time.Second {
		t.Errorf("removal took %v", took)
	}
	err = <-s.done
	s.done <- err // for the cleanup of labServer
	if err != nil {
		t.Errorf("udpserver after SIGTERM: %v", err)
	}
}

// TestMDNSGoodbyeAtOnce: the goodbye (SRV with TTL 0) of a SIGTERM'd
// udpserver --mdns is on the wire at once; the ~1 s until avahi-browse
// drops the instance is Avahi's hold of goodbye records (RFC 6762
// section 10.1), not ours. The bound is loose (a loaded machine); the
// figure is logged.
func TestMDNSGoodbyeAtOnce(t *testing.T) {
	srvBin, _ := build(t)
	lab := newLab(t, netlab.Config{Hosts: 2})
	var c *net.UDPConn
	if err := lab.Host(1).Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bye := make(chan time.Time, 1)
	go func() {
		buf := make([]byte, 9000)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) != nil || !m.Response {
				continue
			}
			for _, rr := range m.Answer {
				if srv, ok := rr.(*dns.SRV); ok && srv.Hdr.Ttl == 0 && strings.HasPrefix(srv.Hdr.Name, "leaving.") {
					select {
					case bye <- time.Now():
					default:
					}
				}
			}
		}
	}()
	s := labServer(t, lab.Host(0), srvBin, "--quiet", "--mdns", "--instance", "leaving")
	waitPublished(t, s)
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case at := <-bye:
		took := at.Sub(start)
		t.Logf("SIGTERM to goodbye on the wire: %v", took)
		if took > 750*time.Millisecond {
			t.Errorf("goodbye %v after SIGTERM, want at once (well under Avahi's 1 s hold)", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no goodbye within 5 s of SIGTERM")
	}
	err := <-s.done
	s.done <- err // for the cleanup of labServer
	if err != nil {
		t.Errorf("udpserver after SIGTERM: %v", err)
	}
}
