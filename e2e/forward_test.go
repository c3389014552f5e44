package e2e

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

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/udpkit/udpkit/internal/netlab"
)

// startNATS runs the nats-server binary with JetStream on h, bound to h's
// address only, and stops it when the test ends.
func startNATS(t *testing.T, h *netlab.Host) string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Skip("skipping: no nats-server binary (apt-get install nats-server)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Command(ctx, bin, "-js", "-a", h.IPv4.String(), "-p", "4222", "-sd", t.TempDir(), "--http_port", "0")
	var out syncWriter
	out.w = new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("nats-server:\n%s", out.String())
		}
	})
	url := fmt.Sprintf("nats://%s:4222", h.IPv4)
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "Server is ready"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("nats-server not ready after 20 s:\n%s", out.String())
		}
	}
	return url
}

// streamPayloads reads every message of stream name through a connection
// opened inside h's namespace.
func streamPayloads(t *testing.T, h *netlab.Host, url, name string) []string {
	t.Helper()
	var nc *nats.Conn
	if err := h.Do(func() (err error) {
		nc, err = nats.Connect(url, nats.NoReconnect())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		out = append(out, string(m.Data))
	}
	return out
}

// Two udpservers on two hosts forward into one stream; udpcli send
// --service runs on a third while the server it sends to is killed (SIGKILL:
// no goodbye, no draining). The client fails over to the other server, every
// line is acknowledged, and the stream holds each line exactly once.
func TestSendServiceFailoverIntoOneStream(t *testing.T) {
	srvBin, cli := build(t)
	lab := newLab(t, netlab.Config{Hosts: 4})
	url := startNATS(t, lab.Host(0))
	servers := map[string]*server{}
	hosts := map[string]*netlab.Host{}
	for i, name := range []string{"store-a", "store-b"} {
		hosts[name] = lab.Host(1 + i)
		servers[name] = labServer(t, lab.Host(1+i), srvBin, "--instance", name, "--listen", ":9797",
			"--forward", url, "--forward-create", "--forward-stream", "READINGS", "--forward-subject", "udpkit.readings")
	}
	waitAnnounced(t, []*server{servers["store-a"], servers["store-b"]})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := lab.Host(3).Command(ctx, cli, "send", "--json", "--service", "_udpkit._udp", "--servers", "2", "--discover-time", "5", "--retries", "15")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncWriter
	stderr.w = new(bytes.Buffer)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const total = 1000
	go func() {
		defer stdin.Close()
		for i := 1; i <= total; i++ {
			fmt.Fprintf(stdin, "line %d\n", i)
			if i%100 == 0 {
				time.Sleep(20 * time.Millisecond) // a run that lasts, so the kill lands in its middle
			}
		}
	}()
	type record struct {
		Seq       int    `json:"seq"`
		Status    string `json:"status"`
		Server    string `json:"server"`
		Failovers int    `json:"failovers"`
	}
	acked := map[int]string{}
	killed := ""
	var killedAt time.Time
	failovers := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		if r.Status != "acked" {
			t.Errorf("line %d: %s", r.Seq, sc.Text())
			continue
		}
		acked[r.Seq] = r.Server
		failovers += r.Failovers
		if killed == "" && len(acked) >= 300 {
			killed = r.Server
			// First silent (its host drops every input frame: no ICMP
			// refusal tells the client), then killed.
			silence := "add table inet silent; add chain inet silent in { type filter hook input priority 0; policy drop; }"
			if out, err := hosts[killed].Command(ctx, "nft", silence).CombinedOutput(); err != nil {
				t.Fatalf("nft: %v %s", err, out)
			}
			if err := servers[killed].cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killedAt = time.Now()
		}
	}
	io.Copy(io.Discard, stdout)
	// Generous, not a speed target: before the per-server cap, the
	// messages in flight at the silent server waited out --retries 15
	// there (about 45 s) before failing over.
	if rest := time.Since(killedAt); killed != "" && rest > 20*time.Second {
		t.Errorf("the lines after the kill took %v: the run stalled at the silent server", rest)
	}
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("udpcli send: %v\n%s", err, stderr.String())
	}
	if len(acked) != total {
		t.Fatalf("%d of %d lines acknowledged\n%s", len(acked), total, stderr.String())
	}
	by := map[string]int{}
	for _, s := range acked {
		by[s]++
	}
	if killed == "" || failovers == 0 || by["store-a"] == 0 || by["store-b"] == 0 {
		t.Errorf("killed %q, %d failovers, acknowledged by %v: want both servers and a failover", killed, failovers, by)
	}
	got := streamPayloads(t, lab.Host(0), url, "READINGS")
	count := map[string]int{}
	for _, p := range got {
		count[p]++
	}
	for i := 1; i <= total; i++ {
		if n := count[fmt.Sprintf("line %d", i)]; n != 1 {
			t.Errorf("line %d stored %d times", i, n)
		}
	}
	if len(got) != total {
		t.Errorf("stream holds %d messages, want %d", len(got), total)
	}
	t.Logf("killed %s after 300 acks; acknowledged by %v; %d failovers; stderr: %s", killed, by, failovers, strings.TrimSpace(stderr.String()))
}
