package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/wire"
)

// startListen starts "udpcli mcast listen" in host h and waits for its
// "joined" lines (one per interface).
func startListen(t *testing.T, ctx context.Context, h *netlab.Host, bin string, joins int, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := h.Command(ctx, bin, append([]string{"mcast", "listen"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stderr)
	for range joins {
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "joined ") {
			t.Fatalf("listen: %q %v", line, err)
		}
	}
	go io.Copy(io.Discard, r)
	return cmd, &out
}

func mcastSendFrom(t *testing.T, ctx context.Context, h *netlab.Host, bin string, args ...string) {
	t.Helper()
	if o, err := h.Command(ctx, bin, append([]string{"mcast", "send"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("send from %s: %v\n%s", h.Name, err, o)
	}
}

// TestCLIMcastSSM: a receiver joins (S,G) with S = host 0; hosts 0 and 1
// both send to G, and only host 0's datagrams are received. Then "mcast
// test --source" between three hosts: only the source sends to the group,
// the receivers are judged on what came from it.
func TestCLIMcastSSM(t *testing.T) {
	lab, bin := mcastLab(t, 3)
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			group, tgroup := "232.1.78.1:5010", "232.1.78.2:9797"
			addr := func(i int) string { return lab.Host(i).IPv4.String() }
			if v6 {
				group, tgroup = "[ff35::7801]:5010", "[ff35::7802]:9797"
				addr = func(i int) string { return lab.Host(i).IPv6.String() }
			}
			listen, out := startListen(t, ctx, lab.Host(2), bin, 1, group, "--source", addr(0), "-c", "2", "-w", "10")
			mcastSendFrom(t, ctx, lab.Host(1), bin, group, "from-B", "-c", "2", "-i", "0.01")
			mcastSendFrom(t, ctx, lab.Host(0), bin, group, "from-A", "-c", "2", "-i", "0.01")
			if err := listen.Wait(); err != nil {
				t.Fatalf("listen: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 2 {
				t.Fatalf("want 2 lines, got %q", out)
			}
			for _, l := range lines {
				if !strings.Contains(l, `"from-A"`) || strings.Contains(l, "from-B") {
					t.Errorf("received %q, want only host 0's datagrams", l)
				}
			}

			args := map[int][]string{}
			for i := range 3 {
				a := []string{"mcast", "test", tgroup, "--source", addr(0), "-c", "20", "-i", "0.01", "--max-loss", "0"}
				for j := range 3 {
					if j != i {
						a = append(a, addr(j))
					}
				}
				args[i] = a
			}
			res := runHosts(t, lab, bin, args)
			for i := range 3 {
				if res[i].code != 0 || !strings.Contains(res[i].out, "2 of 2 peers received the group within 0% loss") {
					t.Errorf("host %d: exit %d\n%s%s", i, res[i].code, res[i].out, res[i].err)
				}
			}
			if !strings.Contains(res[1].out, "receiver only (source-specific); from source 20/20/0%") {
				t.Errorf("receiver output:\n%s", res[1].out)
			}
			if !strings.Contains(res[0].out, "multicast : xmt/rcv/%loss = 20/20/0%") {
				t.Errorf("source output:\n%s", res[0].out)
			}
			t.Logf("receiver:\n%s", res[1].out)
		})
	}
}

// TestCLIMcastTwoSegments: host 0 is on segments A (eth0) and B (eth1),
// host 1 on both but tests on eth1 only, host 2 on A only. Host 0 measures
// each peer on the interface of its segment, and "mcast listen" on both
// interfaces tells where each datagram arrived.
func TestCLIMcastTwoSegments(t *testing.T) {
	if err := netlab.Available(); err != nil {
		t.Skip("needs a namespace LAN:", err)
	}
	bin := buildUdpcli(t)
	lab, err := netlab.New(t.Context(), netlab.Config{Hosts: 3, SecondSegment: []int{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	h0, h1, h2 := lab.Host(0), lab.Host(1), lab.Host(2)
	group := "239.255.79.1:9797"
	res := runHosts(t, lab, bin, map[int][]string{
		0: {"mcast", "test", group, "-I", "eth0", "-I", "eth1", h1.SecondIPv4.String(), h2.IPv4.String(),
			"-c", "20", "-i", "0.01", "--max-loss", "0", "--json"},
		1: {"mcast", "test", group, "-I", "eth1", h0.SecondIPv4.String(), "-c", "20", "-i", "0.01", "--max-loss", "0"},
		2: {"mcast", "test", group, "-I", "eth0", h0.IPv4.String(), "-c", "20", "-i", "0.01", "--max-loss", "0"},
	})
	for i := range 3 {
		if res[i].code != 0 {
			t.Errorf("host %d: exit %d\n%s%s", i, res[i].code, res[i].out, res[i].err)
		}
	}
	want := map[string]string{h1.SecondIPv4.String() + ":9797": "eth1", h2.IPv4.String() + ":9797": "eth0"}
	sc := bufio.NewScanner(strings.NewReader(res[0].out))
	seen := 0
	for sc.Scan() {
		var m struct {
			Type, Peer, Interface, Status string
			Multicast                     struct{ Xmt, Rcv int }
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		if m.Type != "peer" {
			continue
		}
		seen++
		if want[m.Peer] == "" || m.Interface != want[m.Peer] || m.Status != "ok" || m.Multicast.Rcv != 20 {
			t.Errorf("peer %s: interface %q status %q multicast %d/%d, want %q ok 20/20",
				m.Peer, m.Interface, m.Status, m.Multicast.Xmt, m.Multicast.Rcv, want[m.Peer])
		}
	}
	if seen != 2 {
		t.Errorf("%d peers in\n%s", seen, res[0].out)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	lgroup := "239.255.79.2:5011"
	listen, out := startListen(t, ctx, h0, bin, 2, lgroup, "-I", "eth0", "-I", "eth1", "-c", "2", "-w", "10")
	mcastSendFrom(t, ctx, h1, bin, lgroup, "seg-B", "-I", "eth1")
	mcastSendFrom(t, ctx, h2, bin, lgroup, "seg-A", "-I", "eth0")
	if err := listen.Wait(); err != nil {
		t.Fatalf("listen: %v\n%s", err, out)
	}
	t.Logf("listen:\n%s", out)
	for _, w := range []string{h1.SecondIPv4.String() + ":", h2.IPv4.String() + ":"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("no datagram from %s in\n%s", w, out)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.Contains(l, `"seg-B"`) != strings.Contains(l, " on eth1 ") || strings.Contains(l, `"seg-A"`) != strings.Contains(l, " on eth0 ") {
			t.Errorf("wrong arrival interface: %q", l)
		}
	}
}

// TestCLIMcastDiscover: three hosts started without peer lists find each
// other by discovery and report 0% loss; a watcher on a fourth host sees
// each participant's announcement go away with a goodbye as soon as its
// test ends (long before the 120 s TTL).
func TestCLIMcastDiscover(t *testing.T) {
	lab, bin := mcastLab(t, 4)
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	watch := lab.Host(3).Command(ctx, bin, "watch", "-p", wire.ServiceMulticastTest)
	wout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Process.Kill(); watch.Wait() })
	events := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(wout)
		for sc.Scan() {
			events <- sc.Text()
		}
		close(events)
	}()

	group := "239.255.79.3:9797"
	args := map[int][]string{}
	for i := range 3 {
		args[i] = []string{"mcast", "test", group, "-c", "20", "-i", "0.02", "--max-loss", "0"}
	}
	res := runHosts(t, lab, bin, args)
	ended := time.Now()
	for i := range 3 {
		if res[i].code != 0 || !strings.Contains(res[i].out, "2 of 2 peers received the group within 0% loss") ||
			!strings.Contains(res[i].out, "0 peers listed + discovery") || strings.Count(res[i].out, "status    : ok") != 2 {
			t.Errorf("host %d: exit %d\n%s%s", i, res[i].code, res[i].out, res[i].err)
		}
	}
	t.Logf("host 0:\n%s", res[0].out)
	up, down := 0, 0
	timeout := time.After(10 * time.Second)
	for down < 3 {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("watch ended: %d up, %d down", up, down)
			}
			if !strings.Contains(e, ";IPv4;") {
				continue // watch -p prints a line per protocol, as avahi-browse
			}
			switch e[0] {
			case '+':
				up++
			case '-':
				down++
			}
		case <-timeout:
			t.Fatalf("after the tests ended: %d up, %d down (goodbyes missing)", up, down)
		}
	}
	if up != 3 {
		t.Errorf("%d participants announced, want 3", up)
	}
	t.Logf("3 goodbyes seen %v after the tests ended", time.Since(ended).Round(time.Millisecond))
}
