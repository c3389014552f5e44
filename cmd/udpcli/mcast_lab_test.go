package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
)

// These tests run the udpcli binary inside the hosts of a namespace LAN, as
// a person would; multicast never leaves the lab. They skip without root.

func buildUdpcli(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "udpcli")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func mcastLab(t *testing.T, hosts int) (*netlab.Lab, string) {
	t.Helper()
	if err := netlab.Available(); err != nil {
		t.Skip("needs a namespace LAN:", err)
	}
	bin := buildUdpcli(t)
	lab, err := netlab.New(t.Context(), netlab.Config{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	return lab, bin
}

type cliResult struct {
	out, err string
	code     int
}

// runHosts runs one udpcli per argument list at once, arg lists by host.
func runHosts(t *testing.T, lab *netlab.Lab, bin string, args map[int][]string) map[int]cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		res = map[int]cliResult{}
	)
	for i, a := range args {
		wg.Go(func() {
			cmd := lab.Host(i).Command(ctx, bin, a...)
			var o, e bytes.Buffer
			cmd.Stdout, cmd.Stderr = &o, &e
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				code = -1
			}
			mu.Lock()
			res[i] = cliResult{o.String(), e.String(), code}
			mu.Unlock()
		})
	}
	wg.Wait()
	return res
}

func TestCLIMcastTest(t *testing.T) {
	lab, bin := mcastLab(t, 4)
	group := "239.255.78.1:9797"
	args := map[int][]string{}
	for i := range 4 {
		a := []string{"mcast", "test", group, "-c", "50", "-i", "0.01"}
		for j := range 4 {
			if j != i {
				a = append(a, lab.Host(j).IPv4.String())
			}
		}
		if i == 3 {
			a = append(a, "--no-join")
		}
		if i == 0 {
			a = append(a, "--json")
		}
		args[i] = a
	}
	res := runHosts(t, lab, bin, args)
	t.Logf("host 1:\n%s%s", res[1].out, res[1].err)
	t.Logf("host 3 (not joined):\n%s%s", res[3].out, res[3].err)
	for i := 1; i < 3; i++ {
		r := res[i]
		if r.code != 1 {
			t.Errorf("host %d: exit %d, want 1 (a peer did not join)", i, r.code)
		}
		if !strings.Contains(r.out, "xmt/rcv/%loss = 50/50/0%") || !strings.Contains(r.out, "status    : not joined") ||
			!strings.Contains(r.out, "2 of 3 peers received the group") {
			t.Errorf("host %d output:\n%s", i, r.out)
		}
	}
	if res[3].code != 0 || !strings.Contains(res[3].out, "3 of 3 peers answered by unicast") {
		t.Errorf("non-member: exit %d\n%s%s", res[3].code, res[3].out, res[3].err)
	}
	// Host 0 wrote JSON Lines: three peers and a summary.
	var peers, summaries int
	sc := bufio.NewScanner(strings.NewReader(res[0].out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		switch m["type"] {
		case "peer":
			peers++
			if m["peer"] == lab.Host(3).IPv4.String()+":9797" {
				mc := m["multicast"].(map[string]any)
				uc := m["unicast"].(map[string]any)
				if m["status"] != "not joined" || mc["loss_percent"].(float64) != 100 || uc["loss_percent"].(float64) != 0 {
					t.Errorf("non-member in JSON: %v", m)
				}
			} else if m["status"] != "ok" {
				t.Errorf("member in JSON: %v", m)
			}
		case "summary":
			summaries++
			if m["ok"] != false {
				t.Errorf("summary %v", m)
			}
		}
	}
	if peers != 3 || summaries != 1 || res[0].code != 1 {
		t.Errorf("JSON: %d peers, %d summaries, exit %d\n%s", peers, summaries, res[0].code, res[0].out)
	}
}

func TestCLIMcastTestAllMembers(t *testing.T) {
	lab, bin := mcastLab(t, 3)
	for _, v6 := range []bool{false, true} {
		group := "239.255.78.2:9797"
		if v6 {
			group = "[ff05::7802]:9797"
		}
		args := map[int][]string{}
		for i := range 3 {
			// --max-loss 20: the point is the same command line on every host
			// (each skips itself); a loaded machine has lost 2 of 20 probes
			// at the start, before a peer's join took effect.
			a := []string{"mcast", "test", group, "-c", "20", "-i", "0.01", "--ttl", "3", "--max-loss", "20"}
			for j := range 3 {
				if j != i {
					addr := lab.Host(j).IPv4.String()
					if v6 {
						addr = lab.Host(j).IPv6.String()
					}
					a = append(a, addr)
				}
			}
			args[i] = a
		}
		res := runHosts(t, lab, bin, args)
		for i := range 3 {
			if res[i].code != 0 || !strings.Contains(res[i].out, "2 of 2 peers received the group within 20% loss") ||
				!strings.Contains(res[i].out, "ttl=3") {
				t.Errorf("v6=%v host %d: exit %d\n%s%s", v6, i, res[i].code, res[i].out, res[i].err)
			}
		}
		if v6 {
			t.Logf("host 0 (IPv6):\n%s", res[0].out)
		}
	}
}

func TestCLIListenSend(t *testing.T) {
	lab, bin := mcastLab(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, group := range []string{"239.255.78.3:5000", "[ff02::7803%eth0]:5000"} {
		listen := lab.Host(0).Command(ctx, bin, "mcast", "listen", group, "-c", "2", "-w", "10")
		var out bytes.Buffer
		listen.Stdout = &out
		stderr, err := listen.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := listen.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait for "joined ..." before sending.
		line, err := bufio.NewReader(stderr).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "joined ") {
			t.Fatalf("listen: %q %v", line, err)
		}
		send := lab.Host(1).Command(ctx, bin, "mcast", "send", group, "hello", "-c", "2", "-i", "0.05", "--ttl", "5", "-I", "eth0")
		if o, err := send.CombinedOutput(); err != nil || !strings.Contains(string(o), "on eth0 ttl=5") {
			t.Fatalf("send: %v\n%s", err, o)
		}
		if err := listen.Wait(); err != nil {
			t.Fatalf("listen: %v\n%s", err, out.String())
		}
		t.Logf("listen %s:\n%s", group, out.String())
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("want 2 lines, got %q", out.String())
		}
		for _, l := range lines {
			if !strings.Contains(l, "on eth0 ttl=5 5 bytes \"hello\"") {
				t.Errorf("line %q", l)
			}
		}
	}
}
