package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
)

// newLab builds a namespace LAN or skips the test.
func newLab(t *testing.T, cfg netlab.Config) *netlab.Lab {
	t.Helper()
	if err := netlab.Available(); err != nil {
		t.Skipf("skipping: the namespace LAN is not available here: %v", err)
	}
	lab, err := netlab.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	return lab
}

// labServer starts udpserver on h with the given flags.
func labServer(t *testing.T, h *netlab.Host, bin string, args ...string) *server {
	t.Helper()
	return runServer(t, h.Command, bin, args...)
}

// discovered is one line of udpcli discover --json.
type discovered struct {
	Instance   string   `json:"instance"`
	Addrs      []string `json:"addrs"`
	Interface  string   `json:"interface"`
	FoundAfter float64  `json:"found_after_ms"`
}

// discover runs udpcli discover --json on h.
func discover(t *testing.T, h *netlab.Host, cli string, args ...string) ([]discovered, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := h.Command(ctx, cli, append([]string{"discover", "--json"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var res []discovered
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var d discovered
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("discover --json printed %q: %v", sc.Text(), err)
		}
		res = append(res, d)
	}
	return res, code, stderr.String()
}

// waitAnnounced waits until every server logged that it is announcing, so
// that a test does not measure process start-up.
func waitAnnounced(t *testing.T, servers []*server) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range servers {
		for !strings.Contains(s.cmd.Stderr.(*syncWriter).String(), "announcing") {
			if time.Now().After(deadline) {
				t.Fatalf("server did not start announcing; stderr:\n%s", s.cmd.Stderr.(*syncWriter).String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestDiscoverTenServers runs udpserver on ten hosts and udpcli discover -n 10
// on an eleventh, without loss and with 30% of the frames dropped, then sends
// every server found an acknowledged message.
func TestDiscoverTenServers(t *testing.T) {
	srvBin, cli := build(t)
	lab := newLab(t, netlab.Config{Hosts: 11})
	var servers []*server
	for i := 0; i < 10; i++ {
		servers = append(servers, labServer(t, lab.Host(i), srvBin, "--quiet", "--instance", fmt.Sprintf("srv-%02d", i)))
	}
	waitAnnounced(t, servers)
	client := lab.Host(10)

	for _, loss := range []int{0, 30} {
		if err := lab.SetLoss(loss); err != nil {
			t.Fatal(err)
		}
		res, code, stderr := discover(t, client, cli, "-n", "10", "-t", "5s")
		if code != 0 || len(res) != 10 {
			t.Fatalf("loss %d%%: discover exit %d with %d instances, want 0 and 10\n%s", loss, code, len(res), stderr)
		}
		var names []string
		slowest := 0.0
		for _, r := range res {
			names = append(names, r.Instance)
			slowest = max(slowest, r.FoundAfter)
			if len(r.Addrs) == 0 {
				t.Errorf("%s announced no address", r.Instance)
			}
		}
		slices.Sort(names)
		if names = slices.Compact(names); len(names) != 10 {
			t.Errorf("loss %d%%: %d distinct instances: %v", loss, len(names), names)
		}
		// Timing is recorded, not asserted (shared machines are noisy);
		// BENCHMARKS.md holds the figures.
		t.Logf("loss %d%%: all 10 found, the last after %.1f ms", loss, slowest)
	}

	if err := lab.SetLoss(0); err != nil {
		t.Fatal(err)
	}
	res, _, _ := discover(t, client, cli, "-n", "10", "-t", "5s")
	for _, r := range res {
		addr := r.Addrs[0]
		cmd := client.Command(context.Background(), cli, "send", addr, "hello "+r.Instance)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("send to %s (%s): %v\n%s", r.Instance, addr, err, out)
		}
	}
}

// TestDiscoverTwoSegments checks that a server on two segments is reported
// to a client on each segment with its address on that segment.
func TestDiscoverTwoSegments(t *testing.T) {
	srvBin, cli := build(t)
	lab := newLab(t, netlab.Config{Hosts: 3, SecondSegment: []int{0, 2}})
	srv := labServer(t, lab.Host(0), srvBin, "--quiet", "--instance", "two-homed")
	waitAnnounced(t, []*server{srv})

	for _, tc := range []struct {
		host  *netlab.Host
		iface string
		want  string
	}{
		{lab.Host(1), "eth0", lab.Host(0).IPv4.String()},
		{lab.Host(2), "eth1", lab.Host(0).SecondIPv4.String()},
	} {
		res, code, stderr := discover(t, tc.host, cli, "-n", "1", "-t", "5s", "-I", tc.iface)
		if code != 0 || len(res) != 1 {
			t.Fatalf("%s -I %s: exit %d, %d results\n%s", tc.host.Name, tc.iface, code, len(res), stderr)
		}
		var v4 []string
		for _, a := range res[0].Addrs {
			if !strings.HasPrefix(a, "[") {
				v4 = append(v4, a)
			}
		}
		if want := []string{tc.want + ":9797"}; !slices.Equal(v4, want) {
			t.Errorf("client on %s got IPv4 addresses %v, want %v (its own segment only)", tc.iface, v4, want)
		}
	}
}

// TestInterfaceSelectionSendsNowhereElse checks that -I picks what udpcli
// ifaces shows for the same spec, and that nothing goes out of the other
// interface.
func TestInterfaceSelectionSendsNowhereElse(t *testing.T) {
	_, cli := build(t)
	lab := newLab(t, netlab.Config{Hosts: 2, SecondSegment: []int{0, 1}})
	h := lab.Host(0)
	rules := `table inet e2ecount {
	chain out {
		type filter hook output priority 0; policy accept;
		oifname "eth0" udp dport 9798 counter
		oifname "eth1" udp dport 9798 counter
	}
}
`
	nft := h.Command(context.Background(), "nft", "-f", "-")
	nft.Stdin = strings.NewReader(rules)
	if out, err := nft.CombinedOutput(); err != nil {
		t.Skipf("skipping: nft not usable: %v %s", err, out)
	}
	for _, spec := range []string{"eth1", "198.18.1.0/24", `{{ GetAllInterfaces | include "name" "eth1" }}`} {
		// What ifaces says the spec selects.
		out, err := h.Command(context.Background(), cli, "ifaces", "--json", spec).Output()
		if err != nil {
			t.Fatalf("ifaces %q: %v", spec, err)
		}
		var sel struct {
			Interfaces []struct {
				Name string `json:"name"`
			} `json:"interfaces"`
		}
		if err := json.Unmarshal(out, &sel); err != nil || len(sel.Interfaces) != 1 || sel.Interfaces[0].Name != "eth1" {
			t.Fatalf("ifaces %q selected %s, want only eth1", spec, out)
		}
		h.Command(context.Background(), "nft", "reset", "counters", "table", "inet", "e2ecount").Run()
		discover(t, h, cli, "-t", "300ms", "-I", spec)
		counts := nftCounts(t, h)
		if counts["eth0"] != 0 || counts["eth1"] == 0 {
			t.Errorf("-I %q: discovery packets out of eth0=%d, eth1=%d; want none on eth0 and some on eth1", spec, counts["eth0"], counts["eth1"])
		}
	}
}

var counterRE = regexp.MustCompile(`oifname "(\w+)" udp dport 9798 counter packets (\d+)`)

func nftCounts(t *testing.T, h *netlab.Host) map[string]int {
	t.Helper()
	out, err := h.Command(context.Background(), "nft", "list", "table", "inet", "e2ecount").Output()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, m := range counterRE.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[2])
		counts[m[1]] = n
	}
	return counts
}

// watchEvents runs udpcli watch --json on h and delivers its events.
type watchEvent struct {
	Event    string    `json:"type"`
	Reason   string    `json:"reason"`
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"` // flat, as discover --json
}

func startWatch(t *testing.T, h *netlab.Host, cli string) <-chan watchEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Command(ctx, cli, "watch", "--json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	events := make(chan watchEvent, 64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e watchEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				events <- e
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		wg.Wait()
	})
	return events
}

func waitEvent(t *testing.T, events <-chan watchEvent, kind, instance string, within time.Duration) watchEvent {
	t.Helper()
	match := func(e watchEvent) bool { return e.Event == kind && e.Instance == instance }
	// An event that came while another was awaited is kept, not lost: the
	// watcher may report "killed" up before "polite" up.
	if e, ok := takeEarlier(events, match); ok {
		return e
	}
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("watch ended before %s %s", kind, instance)
			}
			if match(e) {
				return e
			}
			keepEarlier(events, e)
		case <-timer.C:
			t.Fatalf("no %q event for %s within %v", kind, instance, within)
		}
	}
}

// earlier holds, per watch, the events waitEvent read while it awaited
// another one.
var earlier = struct {
	sync.Mutex
	m map[<-chan watchEvent][]watchEvent
}{m: map[<-chan watchEvent][]watchEvent{}}

func keepEarlier(events <-chan watchEvent, e watchEvent) {
	earlier.Lock()
	defer earlier.Unlock()
	earlier.m[events] = append(earlier.m[events], e)
}

func takeEarlier(events <-chan watchEvent, match func(watchEvent) bool) (watchEvent, bool) {
	earlier.Lock()
	defer earlier.Unlock()
	for i, e := range earlier.m[events] {
		if match(e) {
			earlier.m[events] = append(earlier.m[events][:i:i], earlier.m[events][i+1:]...)
			return e, true
		}
	}
	return watchEvent{}, false
}

// TestWatchGoodbyeAndExpiry: a server stopped with SIGTERM disappears from
// udpcli watch at once (goodbye); a killed one when its TTL expires.
func TestWatchGoodbyeAndExpiry(t *testing.T) {
	srvBin, cli := build(t)
	lab := newLab(t, netlab.Config{Hosts: 3})
	events := startWatch(t, lab.Host(2), cli)
	polite := labServer(t, lab.Host(0), srvBin, "--quiet", "--instance", "polite", "--announce-ttl", "3s")
	killed := labServer(t, lab.Host(1), srvBin, "--quiet", "--instance", "killed", "--announce-ttl", "3s")
	waitEvent(t, events, "up", "polite", 10*time.Second)
	waitEvent(t, events, "up", "killed", 10*time.Second)

	start := time.Now()
	polite.cmd.Process.Signal(syscall.SIGTERM)
	e := waitEvent(t, events, "down", "polite", 2*time.Second)
	t.Logf("goodbye seen %v after SIGTERM (reason %q)", time.Since(start).Round(time.Millisecond), e.Reason)
	if e.Reason != "goodbye" {
		t.Errorf("polite went down for %q, want goodbye", e.Reason)
	}

	start = time.Now()
	killed.cmd.Process.Kill()
	e = waitEvent(t, events, "down", "killed", 10*time.Second)
	t.Logf("killed server expired %v after SIGKILL (reason %q)", time.Since(start).Round(time.Millisecond), e.Reason)
	if e.Reason != "expired" {
		t.Errorf("killed went down for %q, want expired", e.Reason)
	}
}

// TestTwoServersOneHost: two servers on one host share the discovery port,
// and a browser on that same host finds both, as does one on another host.
func TestTwoServersOneHost(t *testing.T) {
	srvBin, cli := build(t)
	lab := newLab(t, netlab.Config{Hosts: 2})
	a := labServer(t, lab.Host(0), srvBin, "--quiet", "--instance", "first", "--listen", ":9797")
	b := labServer(t, lab.Host(0), srvBin, "--quiet", "--instance", "second", "--listen", ":9799")
	waitAnnounced(t, []*server{a, b})
	for _, h := range []*netlab.Host{lab.Host(0), lab.Host(1)} {
		res, code, stderr := discover(t, h, cli, "-n", "2", "-t", "5s")
		if code != 0 || len(res) != 2 {
			t.Fatalf("discover on %s: exit %d, %d results\n%s", h.Name, code, len(res), stderr)
		}
		ports := map[string]bool{}
		for _, r := range res {
			for _, addr := range r.Addrs {
				ports[addr[strings.LastIndex(addr, ":")+1:]] = true
			}
		}
		if !ports["9797"] || !ports["9799"] {
			t.Errorf("discover on %s: ports %v, want 9797 and 9799", h.Name, ports)
		}
	}
}
