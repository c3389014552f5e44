package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/netlab"
)

// TestMain doubles as a tiny announcing server when UDPCLI_TEST_ANNOUNCE
// holds an instance name: it announces until SIGTERM (then says goodbye).
func TestMain(m *testing.M) {
	if name := os.Getenv("UDPCLI_TEST_ANNOUNCE"); name != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		a, err := discovery.NewAnnouncer(discovery.AnnouncerConfig{Port: 9797, Instance: name, TTL: 2 * time.Second, Attrs: []string{"role=test"}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("ready")
		a.Run(ctx)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestDiscoverUsage(t *testing.T) {
	for _, args := range [][]string{{"discover", "a", "b"}, {"discover", "bad"}, {"discover", "-t", "0"}, {"watch", "--json", "-p"},
		{"discover", "--mdns", "http"}, {"discover", "--mdns", "--query-size", "100"}, {"discover", "--mdns", "_a._tcp", "_b._tcp"}} {
		var out, errb strings.Builder
		if code := run(context.Background(), args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb}); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
}

func labFor(t *testing.T, hosts int) (*netlab.Lab, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("namespace LAN test skipped in -short mode")
	}
	if err := netlab.Available(); err != nil {
		t.Skipf("namespace LAN not available (needs root and ip): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "udpcli")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	lab, err := netlab.New(context.Background(), netlab.Config{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	return lab, bin
}

// startServer runs this test binary as an announcing server in host h.
func startServer(t *testing.T, h *netlab.Host, name string) *exec.Cmd {
	t.Helper()
	cmd := h.Command(context.Background(), os.Args[0])
	cmd.Env = append(os.Environ(), "UDPCLI_TEST_ANNOUNCE="+name)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("server %s: %q", name, line)
	}
	return cmd
}

func TestLabDiscoverAndWatch(t *testing.T) {
	lab, bin := labFor(t, 4)
	// watch on host 3, passive, parsable.
	wcmd := exec.Command("ip", "netns", "exec", lab.Host(3).Name, bin, "watch", "-p", "--passive")
	wout, _ := wcmd.StdoutPipe()
	if err := wcmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wcmd.Process.Kill(); wcmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		s := bufio.NewScanner(wout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	// expect waits for a line starting with prefix; watch -p prints
	// several per event (one per protocol and address, as avahi-browse).
	expect := func(prefix string, within time.Duration) {
		t.Helper()
		timeout := time.After(within)
		var seen []string
		for {
			select {
			case l := <-lines:
				if strings.HasPrefix(l, prefix) {
					return
				}
				seen = append(seen, l)
			case <-timeout:
				t.Fatalf("watch printed nothing like %q within %v; it printed %q", prefix, within, seen)
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // let watch bind and join
	s0 := startServer(t, lab.Host(0), "polite")
	expect("+;eth0;IPv4;polite;_udpkit._udp;local", 2*time.Second)
	expect("=;eth0;IPv4;polite;_udpkit._udp;local;198.18.0.10;198.18.0.10;", time.Second)
	s1 := startServer(t, lab.Host(1), "crashy")
	expect("+;eth0;IPv4;crashy;_udpkit._udp;local", 2*time.Second)

	// discover -n 2 --json on host 2.
	out, err := lab.Host(2).Command(context.Background(), bin, "discover", "-n", "2", "-t", "3s", "--json").Output()
	if err != nil {
		t.Fatalf("discover: %v\n%s", err, out)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var j instanceJSON
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		names = append(names, j.Instance)
		if j.Attrs["role"] != "test" || len(j.Addrs) == 0 || j.Interface != "eth0" || j.FoundAfter == nil {
			t.Errorf("instance %+v", j)
		}
	}
	if len(names) != 2 {
		t.Errorf("discover found %v", names)
	}
	// discover -p: avahi-browse -p -r -t's lines, after the first round.
	pout, err := lab.Host(2).Command(context.Background(), bin, "discover", "-p").Output()
	if err != nil {
		t.Fatalf("discover -p: %v\n%s", err, pout)
	}
	for _, want := range []string{"+;eth0;IPv4;polite;_udpkit._udp;local\n", "=;eth0;IPv4;polite;_udpkit._udp;local;198.18.0.10;198.18.0.10;",
		"+;eth0;IPv4;crashy;_udpkit._udp;local\n", "=;eth0;IPv4;crashy;_udpkit._udp;local;198.18.0.11;198.18.0.11;"} {
		if !strings.Contains(string(pout), want) {
			t.Errorf("discover -p lacks %q:\n%s", want, pout)
		}
	}

	// SIGTERM: goodbye, at once. Kill: gone when the TTL (2 s) passes.
	s0.Process.Signal(syscall.SIGTERM)
	expect("-;eth0;IPv4;polite;_udpkit._udp;local", time.Second)
	s1.Process.Kill()
	expect("-;eth0;IPv4;crashy;_udpkit._udp;local", 3*time.Second)

	// Nothing left: discover exits 1.
	code := lab.Host(2).Command(context.Background(), bin, "discover", "-t", "300ms").Run()
	if ee, ok := code.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("discover with nothing to find: %v, want exit status 1", code)
	}
}

// TestDiscoverCountContested: with -c 1, the other claimants of a contested
// name (reported with it, each marked) are printed too and not counted;
// a further name is not.
func TestDiscoverCountContested(t *testing.T) {
	mk := func(name, addr string, conflict bool, others ...string) discovery.Instance {
		in := discovery.Instance{Service: "_udpkit._udp", Instance: name, Interface: "eth0", Conflict: conflict,
			Addrs: []netip.AddrPort{netip.MustParseAddrPort(addr)}}
		for _, o := range others {
			in.Others = append(in.Others, netip.MustParseAddrPort(o))
		}
		return in
	}
	var out, errb bytes.Buffer
	err := listInstances(context.Background(), cli.IO{Out: &out, Err: &errb}, listOptions{deadline: time.Second, count: 1, quiet: false},
		func(ctx context.Context, found func(listed)) error {
			found(discovered(mk("real1", "198.18.0.66:9797", true, "198.18.0.10:9797")))
			found(discovered(mk("real1", "198.18.0.10:9797", true, "198.18.0.66:9797")))
			found(discovered(mk("real2", "198.18.0.11:9797", false)))
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "198.18.0.66:9797") || !strings.Contains(lines[1], "(conflict: 198.18.0.10:9797)") ||
		!strings.Contains(lines[2], "198.18.0.10:9797") || !strings.Contains(lines[2], "(conflict: 198.18.0.66:9797)") {
		t.Errorf("output:\n%s\nwant the header and both claimants of real1, marked, and not real2", out.String())
	}
}
