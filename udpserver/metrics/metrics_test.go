package metrics_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/udpserver/metrics"
	"github.com/udpkit/udpkit/wire"
)

// scrape fetches url and returns the body and its samples by series
// ("name{labels}" as exposed).
func scrape(t *testing.T, url string) (string, map[string]float64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		samples[line[:i]] = v
	}
	return string(b), samples
}

type fakeAnnouncer discovery.AnnouncerStats

func (f fakeAnnouncer) Stats() discovery.AnnouncerStats { return discovery.AnnouncerStats(f) }

// TestScrape serves a real server on 127.0.0.1, sends it traffic with the
// client, and checks that a scrape over HTTP says what the client saw,
// that the exposition is valid for promtool, and /healthz.
func TestScrape(t *testing.T) {
	srv := &udpserver.Server{MeasureHandlers: true, Handler: udpserver.HandlerFunc(func(ctx context.Context, r *udpserver.Request) error {
		if string(r.Payload) == "no" {
			return udpserver.Reject(wire.CodeRejected, "not now") // final: the client does not retry it (busy it would)
		}
		return nil
	})}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback: %v", err)
	}
	go srv.Serve(pc)
	defer srv.Close()

	var unhealthy error
	col := metrics.NewCollector(srv, fakeAnnouncer{Announcements: 3, Queries: 5, Answers: 4, KnownSuppressed: 1})
	hs := httptest.NewServer(metrics.NewHandler(metrics.NewRegistry(col), func() error { return unhealthy }))
	defer hs.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, pc.LocalAddr().String(), client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 50
	for i := range n {
		if _, err := c.Send(ctx, []byte("m"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Send(ctx, []byte("no")); !errors.Is(err, client.ErrRejected) {
		t.Fatalf("want a NACK, got %v", err)
	}
	// Garbage the server drops: a cut-off header and an ACK.
	raw, err := net.Dial("udp4", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write([]byte{wire.Magic0})
	raw.Write(wire.AppendAck(nil, 1))
	// A PING after them: its PONG proves they were processed.
	if _, err := c.Ping(ctx, nil); err != nil {
		t.Fatal(err)
	}

	body, m := scrape(t, hs.URL+"/metrics")
	cs := c.Stats()
	want := map[string]float64{
		"udpkit_datagrams_received_total":                                  float64(n + 4), // + NACKed + 2 garbage + PING (no loss on loopback)
		`udpkit_messages_handled_total{kind="data"}`:                       n + 1,
		`udpkit_messages_handled_total{kind="raw"}`:                        0,
		"udpkit_acks_sent_total":                                           n,
		`udpkit_nacks_sent_total{code="busy"}`:                             0,
		`udpkit_nacks_sent_total{code="rejected"}`:                         1,
		"udpkit_handler_errors_total":                                      1,
		"udpkit_pongs_sent_total":                                          1,
		`udpkit_datagrams_dropped_total{reason="malformed_short"}`:         1,
		`udpkit_datagrams_dropped_total{reason="unexpected_type"}`:         1,
		"udpkit_dedup_entries":                                             n + 1,
		"udpkit_handler_duration_seconds_count":                            n + 1,
		`udpkit_handler_duration_seconds_bucket{le="+Inf"}`:                n + 1,
		"udpkit_discovery_announcements_total":                             3,
		`udpkit_discovery_answers_suppressed_total{reason="known_answer"}`: 1,
	}
	for k, v := range want {
		got, ok := m[k]
		if !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	// What the client saw: every datagram it sent (retransmissions
	// included) and the two of the raw socket were received; every
	// reply it read was sent.
	if got := m["udpkit_datagrams_received_total"]; float64(cs.Sent+2) != got {
		t.Errorf("client sent %d (+2 raw), server received %v", cs.Sent, got)
	}
	replies := m["udpkit_acks_sent_total"] + m[`udpkit_nacks_sent_total{code="rejected"}`] + m["udpkit_pongs_sent_total"]
	if float64(cs.Received) != replies {
		t.Errorf("client read %d replies, server sent %v", cs.Received, replies)
	}
	if _, ok := m["udpkit_socket_receive_drops_total"]; !ok && runtime.GOOS == "linux" {
		t.Error("no udpkit_socket_receive_drops_total")
	}
	if !strings.Contains(body, `udpkit_build_info{goversion="go`) {
		t.Errorf("no build info in\n%s", body)
	}
	if v, ok := m["process_start_time_seconds"]; !ok || v <= 0 {
		t.Errorf("process_start_time_seconds = %v", v)
	}

	promtool(t, body)

	resp, err := http.Get(hs.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	unhealthy = errors.New("stopping")
	resp, err = http.Get(hs.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || string(b) != "stopping\n" {
		t.Errorf("/healthz when stopping: %d %q", resp.StatusCode, b)
	}
}

// promtool runs 'promtool check metrics' on an exposition, as CI does.
func promtool(t *testing.T, body string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed (Debian package prometheus): exposition not linted")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestNoAnnouncer leaves the discovery metrics out.
func TestNoAnnouncer(t *testing.T) {
	srv := &udpserver.Server{}
	hs := httptest.NewServer(metrics.NewHandler(metrics.NewRegistry(metrics.NewCollector(srv, nil)), nil))
	defer hs.Close()
	body, m := scrape(t, hs.URL+"/metrics")
	if strings.Contains(body, "udpkit_discovery_") {
		t.Error("discovery metrics without an announcer")
	}
	if m["udpkit_datagrams_received_total"] != 0 {
		t.Error("received datagrams on an idle server")
	}
	promtool(t, body)
}
