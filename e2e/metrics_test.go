package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricsURL waits for the server's "serving metrics" log line and returns
// the URL it names.
func metricsURL(t *testing.T, s *server) string {
	t.Helper()
	re := regexp.MustCompile(`msg="serving metrics" url=(\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(s.cmd.Stderr.(*syncWriter).String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no metrics URL in the log:\n%s", s.cmd.Stderr.(*syncWriter).String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func scrapeMetrics(t *testing.T, url string) (string, map[string]float64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", l)
		}
		m[l[:i]] = v
	}
	return string(b), m
}

// TestMetricsMatchBench loads a real udpserver --metrics with udpcli bench
// and checks that the server's counters say what bench saw, and that
// promtool accepts the exposition. The server writes its JSON lines (no
// --quiet), so that the handler runs and is timed.
func TestMetricsMatchBench(t *testing.T) {
	srvBin, cli := build(t)
	port := freePort(t)
	s := startServer(t, plain, srvBin, port, "--no-announce", "--rate-limit", "0", "--metrics", "127.0.0.1:0",
		"--dedup-window", "0.2", "--dedup-per-source", "262144", "--dedup-per-host", "262144") // fresh IDs past the shares: no NACK busy
	url := metricsURL(t, s)

	out, code := run(t, 60*time.Second, "", cli, "bench", "-d", "1", "--inflight", "8", "--json", "127.0.0.1:"+strconv.Itoa(port))
	if code != 0 {
		t.Fatalf("bench exit %d:\n%s", code, out)
	}
	var bench struct {
		Sent, Replies, Lost, Nacks int
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &bench); err != nil {
		t.Fatalf("bench output %q: %v", out, err)
	}
	// The last requests may still be in the server's socket when bench
	// stops: wait until the server has read everything bench sent.
	var body string
	var m map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, m = scrapeMetrics(t, url)
		got := m["udpkit_datagrams_received_total"] + m["udpkit_socket_receive_drops_total"]
		if got >= float64(bench.Sent) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("bench %+v; server received %v, acked %v, kernel drops %v", bench,
		m["udpkit_datagrams_received_total"], m["udpkit_acks_sent_total"], m["udpkit_socket_receive_drops_total"])
	if got := m["udpkit_datagrams_received_total"] + m["udpkit_socket_receive_drops_total"]; got != float64(bench.Sent) {
		t.Errorf("bench sent %d, server received %v (+ kernel drops)", bench.Sent, got)
	}
	acks := m["udpkit_acks_sent_total"]
	// Bench stops reading at its deadline: the replies to the requests
	// then in flight were sent but not counted.
	if acks < float64(bench.Replies) || acks > float64(bench.Sent) {
		t.Errorf("server sent %v ACKs; bench sent %d and got %d replies", acks, bench.Sent, bench.Replies)
	}
	if m[`udpkit_messages_handled_total{kind="data"}`] != acks {
		t.Errorf("handled %v, acked %v", m[`udpkit_messages_handled_total{kind="data"}`], acks)
	}
	if m["udpkit_handler_duration_seconds_count"] != acks {
		t.Errorf("handler histogram count %v, want %v", m["udpkit_handler_duration_seconds_count"], acks)
	}
	if path, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(path, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed (Debian package prometheus): exposition not linted")
	}

	resp, err := http.Get(strings.TrimSuffix(url, "/metrics") + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz: %s", resp.Status)
	}
	s.stop(t)
}
