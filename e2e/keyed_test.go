package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/wire"
)

// Issue 14, last item: keyed `udpcli watch` and keyed `udpcli mcast test`
// with the real binaries on a namespace LAN.

// startWatchArgs runs udpcli watch --json with args on h and keeps every
// event.
func startWatchArgs(t *testing.T, h *netlab.Host, cli string, args ...string) *watchLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Command(ctx, cli, append([]string{"watch", "--json"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &watchLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e watchEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				w.mu.Lock()
				w.events = append(w.events, e)
				w.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		<-done
		if s := stderr.String(); s != "" {
			t.Logf("watch %v stderr: %s", args, s)
		}
	})
	return w
}

func keygen(t *testing.T, cli string, names ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var out []string
	for _, n := range names {
		f := dir + "/" + n
		if b, err := exec.Command(cli, "keygen", f).CombinedOutput(); err != nil {
			t.Fatalf("keygen %s: %v\n%s", f, err, b)
		}
		out = append(out, f)
	}
	return out
}

// TestWatchWithKeys: udpserver --key-file on one host; udpcli watch with
// the same key file sees it come up and go away (goodbye); with another
// key or without a key it sees nothing of it; and a forged
// unauthenticated announcement is shown only by the watcher without a key.
func TestWatchWithKeys(t *testing.T) {
	srvBin, cli := build(t)
	files := keygen(t, cli, "lan.key", "other.key")
	key, other := files[0], files[1]
	lab := newLab(t, netlab.Config{Hosts: 5})
	srvHost, attacker := lab.Host(0), lab.Host(1)
	keyed := startWatchArgs(t, lab.Host(2), cli, "--key-file", key)
	wrong := startWatchArgs(t, lab.Host(3), cli, "--key-file", other)
	none := startWatchArgs(t, lab.Host(4), cli)
	time.Sleep(1500 * time.Millisecond) // past the watchers' initial browse
	srv := labServer(t, srvHost, srvBin, "--quiet", "--instance", "kitchen", "--key-file", key)
	keyed.wait(t, "up", "kitchen", 5*time.Second)
	// An unauthenticated announcement from the attacker, to the group.
	forged := forgedRecord(t, wire.TypeAnnounce, 77, "forged", 120, attacker.IPv4)
	if err := attacker.SpoofUDP4(netip.AddrPortFrom(attacker.IPv4, 40000), netip.AddrPortFrom(wire.DiscoveryGroup4, wire.DiscoveryPort), forged); err != nil {
		t.Fatal(err)
	}
	none.wait(t, "up", "forged", 3*time.Second)
	srv.stop(t) // SIGTERM: sealed goodbyes
	keyed.wait(t, "down", "kitchen", 3*time.Second)
	time.Sleep(300 * time.Millisecond)
	for name, w := range map[string]*watchLog{"key": keyed, "other key": wrong, "no key": none} {
		w.mu.Lock()
		t.Logf("watch with %s: %v", name, w.events)
		w.mu.Unlock()
	}
	if n := keyed.count("", "forged"); n != 0 {
		t.Errorf("the keyed watcher showed the unauthenticated forger (%d events)", n)
	}
	if n := wrong.count("", ""); n != 0 {
		t.Errorf("the watcher with another key saw %d events, want none", n)
	}
	if n := none.count("", "kitchen"); n != 0 {
		t.Errorf("the watcher without a key saw the keyed server (%d events)", n)
	}
}

// mcastSummary is what the tests read of udpcli mcast test --json's
// summary line.
type mcastSummary struct {
	Type    string `json:"type"`
	OK      bool   `json:"ok"`
	Peers   int    `json:"peers"`
	PeersOK int    `json:"peers_ok"`
}

type mcastPeer struct {
	Type      string `json:"type"`
	Peer      string `json:"peer"`
	Answered  bool   `json:"answered"`
	Status    string `json:"status"`
	Multicast *struct {
		Xmt  int     `json:"xmt"`
		Rcv  int     `json:"rcv"`
		Loss float64 `json:"loss_percent"`
	} `json:"multicast"`
}

type mcastResult struct {
	code    int
	summary mcastSummary
	peers   []mcastPeer
	out     string
}

// mcastTest runs udpcli mcast test on h with the peer listed and args.
func mcastTest(ctx context.Context, h *netlab.Host, cli, peer string, args ...string) mcastResult {
	argv := append([]string{"mcast", "test", "239.255.0.1:9797", peer, "-c", "30", "-i", "0.02", "--wait", "3", "--json", "--no-discover"}, args...)
	cmd := h.Command(ctx, cli, argv...)
	out, _ := cmd.CombinedOutput()
	r := mcastResult{code: cmd.ProcessState.ExitCode(), out: string(out)}
	for _, line := range strings.Split(string(out), "\n") {
		var typ struct {
			Type string `json:"type"`
		}
		if json.Unmarshal([]byte(line), &typ) != nil {
			continue
		}
		switch typ.Type {
		case "summary":
			json.Unmarshal([]byte(line), &r.summary)
		case "peer":
			var p mcastPeer
			json.Unmarshal([]byte(line), &p)
			r.peers = append(r.peers, p)
		}
	}
	return r
}

// TestMcastTestWithKeys: two hosts run udpcli mcast test with each other
// as peer. With the same key file on both, both report the peer OK with
// 0 % multicast loss; with different keys, or a key on one end only,
// neither reports an OK peer (the keyed end drops every unauthenticated or
// wrongly authenticated probe and reply).
func TestMcastTestWithKeys(t *testing.T) {
	_, cli := build(t)
	files := keygen(t, cli, "lan.key", "other.key")
	key, other := files[0], files[1]
	lab := newLab(t, netlab.Config{Hosts: 2})
	a, b := lab.Host(0), lab.Host(1)
	pair := func(argsA, argsB []string) (mcastResult, mcastResult) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var ra, rb mcastResult
		var wg sync.WaitGroup
		wg.Go(func() { ra = mcastTest(ctx, a, cli, b.IPv4.String(), argsA...) })
		wg.Go(func() { rb = mcastTest(ctx, b, cli, a.IPv4.String(), argsB...) })
		wg.Wait()
		return ra, rb
	}
	ra, rb := pair([]string{"--key-file", key}, []string{"--key-file", key})
	for name, r := range map[string]mcastResult{"A": ra, "B": rb} {
		if r.code != 0 || !r.summary.OK || r.summary.PeersOK != 1 || len(r.peers) != 1 {
			t.Errorf("same key, host %s: exit %d, summary %+v\n%s", name, r.code, r.summary, r.out)
			continue
		}
		if m := r.peers[0].Multicast; m == nil || m.Loss != 0 || m.Xmt != 30 {
			t.Errorf("same key, host %s: multicast %+v, want 30 sent, 0 %% loss", name, m)
		}
	}
	for _, c := range []struct {
		name         string
		argsA, argsB []string
	}{
		{"different keys", []string{"--key-file", key}, []string{"--key-file", other}},
		{"key on one end only", []string{"--key-file", key}, nil},
	} {
		ra, rb := pair(c.argsA, c.argsB)
		for name, r := range map[string]mcastResult{"A (keyed)": ra, "B": rb} {
			if r.code == 0 || r.summary.PeersOK != 0 {
				t.Errorf("%s, host %s: exit %d, summary %+v: an OK peer\n%s", c.name, name, r.code, r.summary, r.out)
			}
			for _, p := range r.peers {
				if p.Answered {
					t.Errorf("%s, host %s: peer %s answered", c.name, name, p.Peer)
				}
			}
		}
	}
}
