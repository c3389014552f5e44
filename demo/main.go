// Command demo is udpkit's main job, end to end, on a LAN that it builds out
// of network namespaces: several hosts run udpserver, which announces itself;
// a client on another host runs udpcli discover, then sends every server it
// found a message with udpcli send and waits for the acknowledgement. One
// server is on two segments, and a client on the second segment finds it with
// its address there. Frames are dropped at random on the way (nft), as on a
// bad Wi-Fi.
//
// Run it as root from the repository: go run ./demo
//
// Nothing it sends leaves the namespaces it creates, and it removes all of
// them when it ends, also on Ctrl-C. Without root it says why and exits 2.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// server is one udpserver host of the demo.
type server struct {
	host     *netlab.Host
	instance string
	cmd      *exec.Cmd
	out      bytes.Buffer // its JSON lines
	log      syncBuffer   // its stderr
}

// syncBuffer is a bytes.Buffer that a process writes while we read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitAnnouncing waits until every server logged that it announces.
func waitAnnouncing(ctx context.Context, servers []*server) error {
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range servers {
		for !strings.Contains(s.log.String(), "msg=announcing") {
			if strings.Contains(s.log.String(), "level=ERROR") || time.Now().After(deadline) {
				return fmt.Errorf("udpserver on %s did not start announcing:\n%s", s.host.Name, s.log.String())
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}

// found is the part of udpcli discover --json that the demo uses.
type found struct {
	Instance   string   `json:"instance"`
	Addrs      []string `json:"addrs"`
	Interface  string   `json:"interface"`
	FoundAfter float64  `json:"found_after_ms"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	servers := fs.Int("servers", 4, "number of server hosts (2 to 50)")
	loss := fs.Int("loss", 10, "percent of frames the LAN drops (0 to 90)")
	labOnly := fs.Bool("lab", false, "only build the LAN and the binaries, print how to use them, and keep it all until Ctrl-C")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./demo [-servers N] [-loss P] [-lab]\n\nBuilds a LAN of network namespaces, runs udpserver on N hosts and udpcli discover\nand send on two more, prints what happens and removes everything again. Needs root.\nWith -lab it builds the LAN (N+2 hosts) and waits, so that you can try commands by hand.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *servers < 2 || *servers > 50 || *loss < 0 || *loss > 90 {
		fmt.Fprintln(stderr, "demo: -servers must be 2..50 and -loss 0..90")
		return 2
	}
	if err := netlab.Available(); err != nil {
		fmt.Fprintf(stderr, "demo: cannot build the namespace LAN: %v\n"+
			"The demo creates network namespaces so that its broadcasts and multicasts never reach\n"+
			"your real network; that needs root. Run it as root: sudo \"$(command -v go)\" run ./demo\n", err)
		return 2
	}
	run := demo
	if *labOnly {
		run = labShell
	}
	if err := run(ctx, *servers, *loss, stdout); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "demo: interrupted; everything it created has been removed")
			return 1
		}
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	return 0
}

// buildBinaries builds udpserver and udpcli into a new temporary directory.
func buildBinaries(ctx context.Context) (dir string, err error) {
	dir, err = os.MkdirTemp("", "udpkit-demo-")
	if err != nil {
		return "", err
	}
	for _, name := range []string{"udpserver", "udpcli"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, name), "github.com/udpkit/udpkit/cmd/"+name)
		if b, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("go build %s: %v\n%s", name, err, b)
		}
	}
	return dir, nil
}

// labShell builds the LAN and waits until ctx ends, for trying commands by hand.
func labShell(ctx context.Context, nServers, loss int, out io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	say("==> building udpserver and udpcli")
	bin, err := buildBinaries(ctx)
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	lab, err := netlab.New(ctx, netlab.Config{Hosts: nServers + 2, SecondSegment: []int{1, nServers + 1}, Loss: loss})
	if err != nil {
		return err
	}
	defer func() {
		say("\n==> removing the LAN")
		lab.Close()
	}()
	say("==> a LAN of %d hosts, %d%% of frames dropped at the switch:", nServers+2, loss)
	for _, h := range lab.Hosts() {
		where := h.IPv4.String() + " " + h.IPv6.String()
		if h.SecondIPv4.IsValid() {
			where += "  eth1: " + h.SecondIPv4.String() + " " + h.SecondIPv6.String()
		}
		say("    %s  eth0: %s", h.Name, where)
	}
	h0, h1 := lab.Host(0).Name, lab.Host(1).Name
	say(`
Run commands on a host with 'ip netns exec HOST COMMAND', in another terminal, for example:

    ip netns exec %[1]s %[3]s/udpserver --instance one &
    ip netns exec %[2]s %[3]s/udpcli discover
    ip netns exec %[2]s %[3]s/udpcli send 198.18.0.10:9797 hello
    ip netns exec %[2]s %[3]s/udpcli mcast listen 239.1.2.3:5000 &
    ip netns exec %[1]s %[3]s/udpcli mcast send -c 3 239.1.2.3:5000 hi

Press Ctrl-C here to remove the LAN (processes still running in it are killed).`, h0, h1, bin)
	<-ctx.Done()
	// Processes started by hand would keep their namespace alive after
	// its name is gone: stop them first (SIGTERM, so servers say goodbye).
	for _, ns := range lab.Namespaces() {
		pids, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, f := range strings.Fields(string(pids)) {
			if pid, err := strconv.Atoi(f); err == nil {
				if p, err := os.FindProcess(pid); err == nil {
					p.Signal(syscall.SIGTERM)
				}
			}
		}
	}
	return nil
}

func demo(ctx context.Context, nServers, loss int, out io.Writer) (err error) {
	// After Ctrl-C nothing more is reported but the clean-up: the commands
	// then running were killed, and their cut-off output is no result.
	say := func(format string, args ...any) {
		if ctx.Err() == nil {
			fmt.Fprintf(out, format+"\n", args...)
		}
	}

	say("==> building udpserver and udpcli")
	bin, err := buildBinaries(ctx)
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	udpserver, udpcli := filepath.Join(bin, "udpserver"), filepath.Join(bin, "udpcli")

	// Hosts 0..n-1 are servers, host 1 on both segments; host n is a client on
	// segment A, host n+1 a client that looks only at segment B.
	clientA, clientB := nServers, nServers+1
	lab, err := netlab.New(ctx, netlab.Config{Hosts: nServers + 2, SecondSegment: []int{1, clientB}, Loss: loss})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "==> removing the LAN")
		if cerr := lab.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	say("==> a LAN of %d hosts in network namespaces: segment A 198.18.0.0/24 + fd18::/64, segment B 198.18.1.0/24, %d%% of frames dropped", nServers+2, loss)

	names := []string{"kitchen", "garage", "attic", "cellar", "porch", "study", "hall", "loft"}
	var servers []*server
	defer func() {
		for _, s := range servers {
			if s.cmd.Process != nil {
				s.cmd.Process.Kill()
				s.cmd.Wait()
			}
		}
	}()
	for i := 0; i < nServers; i++ {
		h := lab.Host(i)
		s := &server{host: h, instance: fmt.Sprintf("demo-%s", names[i%len(names)])}
		if i >= len(names) {
			s.instance = fmt.Sprintf("demo-%s-%d", names[i%len(names)], i)
		}
		args := []string{"--instance", s.instance, "--attr", "room=" + names[i%len(names)]}
		s.cmd = h.Command(ctx, udpserver, args...)
		s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.log
		where := h.IPv4.String()
		if h.SecondIPv4.IsValid() {
			where += " and " + h.SecondIPv4.String() + " (two segments)"
		}
		say("    %s  %-44s udpserver --instance %s", h.Name, where, s.instance)
		if err := s.cmd.Start(); err != nil {
			return fmt.Errorf("start udpserver on %s: %w", h.Name, err)
		}
		servers = append(servers, s)
	}
	// Discovery starts once every server announces, as on a LAN where they
	// have been running for a while; a server that is still starting would
	// only be found by a later query round.
	if err := waitAnnouncing(ctx, servers); err != nil {
		return err
	}
	say("    %s  %-44s client", lab.Host(clientA).Name, lab.Host(clientA).IPv4)
	say("    %s  %-44s client looking at segment B only (-I eth1)", lab.Host(clientB).Name, lab.Host(clientB).SecondIPv4)

	// Discovery on segment A: every server.
	// Each step is printed whole once it is done, so that Ctrl-C never
	// leaves a heading without its result.
	results, err := discover(ctx, lab.Host(clientA), udpcli, nServers)
	if err != nil {
		return err
	}
	say("\n==> on %s: udpcli discover -c %d -w 5", lab.Host(clientA).Name, nServers)
	for _, r := range results {
		say("    found %-14s at %s on %s after %.1f ms", r.Instance, describe(r.Addrs), r.Interface, r.FoundAfter)
	}

	// Every server gets a message and must acknowledge it.
	acked := 0
	for _, r := range results {
		addr := ipv4First(r.Addrs)[0]
		msg := fmt.Sprintf("hello %s, from %s", r.Instance, lab.Host(clientA).Name)
		cmd := lab.Host(clientA).Command(ctx, udpcli, "send", "--retries", "10", addr, msg)
		b, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		say("==> udpcli send %s %q", addr, msg)
		say("    %s", strings.TrimSpace(strings.ReplaceAll(string(b), "\n", "\n    ")))
		if err == nil {
			acked++
		}
	}

	// Segment B: the two-segment server, with its address on segment B.
	resB, err := discover(ctx, lab.Host(clientB), udpcli, 1, "-I", "eth1")
	if err != nil {
		return err
	}
	say("\n==> on %s: udpcli discover -I eth1 -c 1 -w 5", lab.Host(clientB).Name)
	for _, r := range resB {
		say("    found %-14s at %s on %s after %.1f ms", r.Instance, describe(r.Addrs), r.Interface, r.FoundAfter)
	}

	for _, s := range servers {
		s.cmd.Process.Signal(syscall.SIGTERM)
	}
	var got []string
	for _, s := range servers {
		s.cmd.Wait()
		sc := bufio.NewScanner(&s.out)
		for sc.Scan() {
			var line struct {
				From string `json:"from"`
				Text string `json:"text"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				got = append(got, fmt.Sprintf("    %s (%s) got %q from %s", s.instance, s.host.Name, line.Text, line.From))
			}
		}
	}
	servers = nil
	if ctx.Err() != nil {
		return ctx.Err()
	}
	say("\n==> stopped the servers (SIGTERM: each says goodbye on the LAN); what they received:")
	for _, l := range got {
		say("%s", l)
	}

	say("\n%d of %d servers found, %d acknowledged; segment B saw %d server(s).", len(results), nServers, acked, len(resB))
	if len(results) != nServers || acked != nServers || len(resB) != 1 {
		return errors.New("not every server was found and acknowledged")
	}
	return nil
}

// discover runs udpcli discover --json on h and returns what it found.
func discover(ctx context.Context, h *netlab.Host, udpcli string, n int, extra ...string) ([]found, error) {
	args := append([]string{"discover", "--json", "-c", fmt.Sprint(n), "-w", "5"}, extra...)
	cmd := h.Command(ctx, udpcli, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	var res []found
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var f found
		if json.Unmarshal(sc.Bytes(), &f) == nil && f.Instance != "" {
			res = append(res, f)
		}
	}
	if err != nil && len(res) == 0 {
		return nil, fmt.Errorf("udpcli discover on %s: %v\n%s", h.Name, err, stderr.String())
	}
	return res, nil
}

// describe shows the first address and how many more there are.
func describe(addrs []string) string {
	all := ipv4First(addrs)
	if len(all) == 1 {
		return all[0]
	}
	return fmt.Sprintf("%s (+%d IPv6)", all[0], len(all)-1)
}

// ipv4First orders addresses so that IPv4 ones come first (they read
// better in a demo); there is always at least one element.
func ipv4First(addrs []string) []string {
	var v4, v6 []string
	for _, a := range addrs {
		if strings.HasPrefix(a, "[") {
			v6 = append(v6, a)
		} else {
			v4 = append(v4, a)
		}
	}
	all := append(v4, v6...)
	if len(all) == 0 {
		return []string{"?"}
	}
	return all
}
