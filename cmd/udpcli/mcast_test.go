package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/cli"
)

func TestParseGroup(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{"239.1.2.3:5000", "239.1.2.3:5000", false},
		{"239.1.2.3", "239.1.2.3:9797", false},
		{"[ff02::1%eth0]:5000", "[ff02::1%eth0]:5000", false},
		{"ff05::1", "[ff05::1]:9797", false},
		{"[ff05::1]", "[ff05::1]:9797", false},
		{"10.0.0.1:5000", "", true},
		{"239.1.2.3:0", "", true},
		{"nonsense", "", true},
	}
	for _, tc := range tests {
		got, _, err := parseGroup(tc.in, "")
		if tc.bad != (err != nil) || !tc.bad && got.String() != tc.want {
			t.Errorf("parseGroup(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestParsePeer(t *testing.T) {
	g4 := netip.MustParseAddrPort("239.1.2.3:5000")
	g6 := netip.MustParseAddrPort("[ff05::1]:5000")
	tests := []struct {
		in    string
		group netip.AddrPort
		want  string
		bad   bool
	}{
		{"198.18.0.11", g4, "198.18.0.11:5000", false},
		{"198.18.0.11:6000", g4, "198.18.0.11:6000", false},
		{"fd18::11", g6, "[fd18::11]:5000", false},
		{"[fe80::1%eth0]:7", g6, "[fe80::1%eth0]:7", false},
		{"fd18::11", g4, "", true},
		{"198.18.0.11", g6, "", true},
		{"239.1.1.1", g4, "", true},
		{"ff05::1", g6, "", true},
		{"0.0.0.0", g4, "", true},
		{"[::]:5000", g6, "", true},
		{"255.255.255.255", g4, "", true},
		{"198.18.0.11:0", g4, "", true},
	}
	for _, tc := range tests {
		got, err := parseOnePeer(tc.in, tc.group)
		if tc.bad != (err != nil) || !tc.bad && got.String() != tc.want {
			t.Errorf("parsePeer(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestMcastUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"mcast"}, cli.ExitUsage, "missing subcommand"},
		{[]string{"mcast", "frob"}, cli.ExitUsage, "unknown subcommand"},
		{[]string{"mcast", "listen"}, cli.ExitUsage, "exactly one GROUP"},
		{[]string{"mcast", "listen", "10.1.1.1:5"}, cli.ExitUsage, "not a multicast address"},
		{[]string{"mcast", "send", "239.1.1.1:5", "--ttl", "0"}, cli.ExitUsage, `--ttl "0": want 1 to 255`},
		{[]string{"mcast", "test", "239.1.1.1:5", "--max-loss", "101"}, cli.ExitUsage, "--max-loss"},
		{[]string{"mcast", "test", "239.1.1.1:5", "fd00::1"}, cli.ExitUsage, "family"},
		{[]string{"mcast", "test", "239.1.1.1:5", "--source", "239.1.1.2"}, cli.ExitUsage, "--source"},
		{[]string{"mcast", "test", "--bogus"}, cli.ExitUsage, "unknown flag"},
		{[]string{"mcast", "test", "--help"}, cli.ExitOK, "omping-style"},
		{[]string{"mcast", "test", "239.1.1.1:5", "-s", "65468"}, cli.ExitUsage, "-s/--size 65468: want 0 to 65467 payload bytes"},
		{[]string{"mcast", "test", "239.1.1.1:5", "-s", "-1"}, cli.ExitUsage, "-s/--size -1"},
		{[]string{"mcast", "test", "239.1.1.1:5", "--datagram-size", "39"}, cli.ExitUsage, "--datagram-size 39: want 40 to 65507 bytes"},
		{[]string{"mcast", "test", "239.1.1.1:5", "-s", "1", "--datagram-size", "100"}, cli.ExitUsage, "exclude"},
		{[]string{"mcast", "--help"}, cli.ExitOK, "Subcommands"},
		{[]string{"mcast", "--help"}, cli.ExitOK, "-h, --help"},
		{[]string{"mcast", "test", "239.255.0.1:9797", "239.1.1.1"}, cli.ExitUsage, "is a multicast address"},
		{[]string{"mcast", "test", "239.255.0.1:9797", "0.0.0.0"}, cli.ExitUsage, "unspecified"},
		{[]string{"mcast", "test", "239.255.0.1:9797", "255.255.255.255"}, cli.ExitUsage, "broadcast"},
		{[]string{"mcast", "test", "239.255.0.1:9797", "--no-join", "--source", "198.18.0.10"}, cli.ExitUsage, "--source with --no-join"},
		{[]string{"mcast", "test", "239.255.0.1:0"}, cli.ExitUsage, "port 0 cannot be joined"},
		{[]string{"mcast", "listen", "239.9.9.9:5000", "-c", "-1"}, cli.ExitUsage, `-c/--count "-1": want 0 or more`},
		{[]string{"mcast", "listen"}, cli.ExitUsage, "Run 'udpcli mcast listen --help'"},
		{[]string{"mcast", "send", "239.1.1.1:5", "-c", "-1"}, cli.ExitUsage, "Run 'udpcli mcast send --help'"},
		{[]string{"mcast", "test", "--bogus"}, cli.ExitUsage, "udpcli mcast test: unknown flag"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb})
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.msg) {
			t.Errorf("%v: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tc.args, code, tc.code, tc.msg, out.String(), errb.String())
		}
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestMcastTestUnicastOnlyLoopback runs two --no-join participants on
// 127.0.0.1 (-I lo): nothing is joined or sent to a group, so it runs in
// the machine's own namespace.
func TestMcastTestUnicastOnlyLoopback(t *testing.T) {
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var (
		wg    sync.WaitGroup
		outs  [2]bytes.Buffer
		errs  [2]bytes.Buffer
		codes [2]int
	)
	for k, ports := range [][2]int{{pa, pb}, {pb, pa}} {
		wg.Go(func() {
			args := []string{"mcast", "test", "239.255.1.1:" + strconv.Itoa(ports[0]), "127.0.0.1:" + strconv.Itoa(ports[1]),
				"--no-join", "-I", "lo", "-c", "5", "-i", "0.01", "-v"}
			codes[k] = run(ctx, args, cli.IO{In: strings.NewReader(""), Out: &outs[k], Err: &errs[k]})
		})
	}
	wg.Wait()
	for k := range 2 {
		out := outs[k].String()
		if codes[k] != cli.ExitOK || !strings.Contains(out, "unicast   : xmt/rcv/%loss = 5/5/0%") ||
			!strings.Contains(out, "reply seq=5") || strings.Contains(out, "multicast :") {
			t.Errorf("participant %d: exit %d\n%s%s", k, codes[k], out, errs[k].String())
		}
	}
}

// TestParsePeerUnresolved: a peer name that does not resolve says so and
// exits 2 (as ping does for an unknown host). The resolver is stubbed: the
// test machine must not query DNS.
func TestParsePeerUnresolved(t *testing.T) {
	old := lookupHost
	t.Cleanup(func() { lookupHost = old })
	lookupHost = func(name string) ([]netip.Addr, error) {
		if name == "peer-b" {
			return []netip.Addr{netip.MustParseAddr("fd18::11"), netip.MustParseAddr("198.18.0.11")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"mcast", "test", "239.255.0.1:9797", "nosuchhost"}, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != cli.ExitUsage || !strings.Contains(errb.String(), `peer "nosuchhost": the name could not be resolved`) {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	if got, err := parseOnePeer("peer-b", netip.MustParseAddrPort("239.1.1.1:7")); err != nil || got.String() != "198.18.0.11:7" {
		t.Errorf("parsePeer(peer-b) = %v, %v", got, err)
	}
}

// parseOnePeer is parsePeers of a list of one.
func parseOnePeer(s string, group netip.AddrPort) (netip.AddrPort, error) {
	ps, err := parsePeers([]string{s}, group)
	if err != nil || len(ps) != 1 {
		return netip.AddrPort{}, err
	}
	return ps[0], nil
}

func TestPortTaken(t *testing.T) {
	bind := &net.OpError{Op: "listen", Net: "udp4", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
	err := portTaken(bind, netip.MustParseAddrPort("239.18.8.8:9797"))
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "port 9797 is taken (a udpserver on this host listens on it by default); pick another with GROUP:PORT") {
		t.Errorf("9797: %v", err)
	}
	err = portTaken(bind, netip.MustParseAddrPort("239.18.8.8:9900"))
	if !strings.Contains(err.Error(), "port 9900 is taken (another program holds it)") {
		t.Errorf("9900: %v", err)
	}
	if other := errors.New("no route"); portTaken(other, netip.MustParseAddrPort("239.18.8.8:9797")) != other {
		t.Error("another error changed")
	}
}
