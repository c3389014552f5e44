package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/internal/natstest"
	"github.com/udpkit/udpkit/wire"
)

func TestForwardStoresEachOnce(t *testing.T) {
	node := natstest.Start(t)
	nc := connect(t, node.URL())
	js := addStream(t, nc, "UDPKIT", 1)
	st := startStack(t, nc, Config{Instance: "kitchen hub"}, nil)
	if st.fwd.Stream() != "UDPKIT" {
		t.Errorf("stream %q, want UDPKIT", st.fwd.Stream())
	}

	c, err := client.Dial(t.Context(), st.addr.String(), client.Config{Window: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := payloads(500)
	log := newAckLog()
	if err := sendAll(t.Context(), c, want, log); err != nil {
		t.Fatal(err)
	}
	msgs := readStream(t, js, "UDPKIT")
	log.check(t, msgs, want, true)

	m := msgs[0]
	local := c.LocalAddr()
	for h, want := range map[string]string{
		HeaderSource:      local.String(),
		HeaderDestination: st.addr.String(),
		HeaderKind:        "data",
		HeaderInstance:    "kitchen hub",
	} {
		if got := m.hdr.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, m.hdr.Get(HeaderReceived)); err != nil {
		t.Errorf("header %s: %v", HeaderReceived, err)
	}
	if id := m.hdr.Get(HeaderMessageID); id == "" || !strings.HasPrefix(m.msgID, local.String()+"/") {
		t.Errorf("message ID header %q, Nats-Msg-Id %q", id, m.msgID)
	}
	fs := st.fwd.Stats()
	if fs.Stored != 500 || fs.Pending != 0 || fs.Failed != 0 {
		t.Errorf("forwarder stats %+v", fs)
	}
	if n := st.srv.Deferred(); n != 0 {
		t.Errorf("%d replies still deferred", n)
	}
}

// A retransmission that reaches another server (here: a new server on a new
// socket, so nothing is remembered but the stream's duplicate window) is
// acknowledged and stored once.
func TestForwardRetransmissionToAnotherServer(t *testing.T) {
	node := natstest.Start(t)
	nc := connect(t, node.URL())
	js := addStream(t, nc, "UDPKIT", 1)
	a := startStack(t, nc, Config{Instance: "a"}, nil)
	b := startStack(t, nc, Config{Instance: "b"}, nil)

	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	dg := wire.AppendData(nil, 0x1234, []byte("same reading"))
	for _, to := range []netip.AddrPort{a.addr, a.addr, b.addr, a.addr} {
		if h := exchange(t, sock, to, dg); h.Type != wire.TypeAck || h.ID != 0x1234 {
			t.Fatalf("reply from %v: %+v, want ACK", to, h)
		}
	}
	msgs := readStream(t, js, "UDPKIT")
	if len(msgs) != 1 || msgs[0].data != "same reading" {
		t.Fatalf("stream holds %+v, want the reading once", msgs)
	}
	if got, want := msgs[0].msgID, MsgID(sock.LocalAddr().(*net.UDPAddr).AddrPort(), 0x1234); got != want {
		t.Errorf("Nats-Msg-Id %q, want %q", got, want)
	}
	if d := b.fwd.Stats().Duplicates; d != 1 {
		t.Errorf("server b saw %d duplicates, want 1", d)
	}
	if s := a.srv.Stats(); s.Handled != 1 || s.Duplicates != 2 {
		t.Errorf("server a handled %d, answered %d from memory; want 1 and 2", s.Handled, s.Duplicates)
	}
}

// exchange sends dg to to and returns the reply's header.
func exchange(t testing.TB, sock *net.UDPConn, to netip.AddrPort, dg []byte) wire.Header {
	t.Helper()
	if _, err := sock.WriteToUDPAddrPort(dg, to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	sock.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := sock.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no reply from %v: %v", to, err)
	}
	h, _, err := wire.Parse(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Without a broker nothing is acknowledged: the device gets NACK busy
// once the publish times out, and its retransmission is handled anew.
func TestForwardBrokerDownNacksBusy(t *testing.T) {
	node := natstest.Start(t)
	nc := connect(t, node.URL())
	js := addStream(t, nc, "UDPKIT", 1)
	st := startStack(t, nc, Config{Timeout: 300 * time.Millisecond}, nil)
	node.Stop()

	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	dg := wire.AppendData(nil, 77, []byte("while down"))
	for range 2 {
		if h := exchange(t, sock, st.addr, dg); h.Type != wire.TypeNack || h.Code != wire.CodeBusy {
			t.Fatalf("reply %+v, want NACK busy", h)
		}
	}
	if s := st.srv.Stats(); s.Handled != 2 || s.Acked != 0 {
		t.Errorf("handled %d (want 2: busy is not remembered), acked %d", s.Handled, s.Acked)
	}
	node.Restart()
	waitConnected(t, nc.IsConnected)
	if h := exchange(t, sock, st.addr, dg); h.Type != wire.TypeAck {
		t.Fatalf("after the restart: %+v, want ACK", h)
	}
	if msgs := readStream(t, js, "UDPKIT"); len(msgs) != 1 {
		t.Errorf("stream holds %d messages, want 1", len(msgs))
	}
}

func waitConnected(t testing.TB, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("NATS connection not back after 20 s")
		}
	}
}

// The broker stops in the middle of a run and comes back: every message
// acknowledged is stored, none twice, and the client rode it out on NACK
// busy retries.
func TestForwardBrokerRestart(t *testing.T) {
	node := natstest.Start(t)
	nc := connect(t, node.URL())
	js := addStream(t, nc, "UDPKIT", 1)
	st := startStack(t, nc, Config{Timeout: 500 * time.Millisecond}, nil)
	c, err := client.Dial(t.Context(), st.addr.String(), client.Config{Window: 16, Retries: 15})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	want := payloads(1000)
	log := newAckLog()
	var acked atomic.Int32
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for acked.Load() < 300 {
			time.Sleep(time.Millisecond)
		}
		node.Stop()
		time.Sleep(1500 * time.Millisecond)
		node.Restart()
	}()
	seq := func(yield func([]byte) bool) {
		for _, p := range want {
			if !yield([]byte(p)) {
				return
			}
		}
	}
	err = c.SendAll(t.Context(), seq, func(i int, r client.Result, err error) {
		log.record(want[i], r, err)
		if err == nil {
			acked.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	<-stopped
	waitConnected(t, nc.IsConnected)
	log.check(t, readStream(t, js, "UDPKIT"), want, true)
	if log.busy == 0 {
		t.Errorf("no NACK busy during the broker's absence")
	}
	t.Logf("%d NACK busy retried; forwarder %+v", log.busy, st.fwd.Stats())
}

// One node of a three-node cluster dies in the middle of a run: an R3
// stream keeps its quorum and forwarding goes on.
func TestForwardClusterNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	cl := natstest.StartCluster(t, 3)
	nc := connect(t, cl.URL())
	js := addStream(t, nc, "UDPKIT", 3)
	st := startStack(t, nc, Config{Timeout: time.Second}, nil)
	c, err := client.Dial(t.Context(), st.addr.String(), client.Config{Window: 16, Retries: 15})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	want := payloads(600)
	log := newAckLog()
	var acked atomic.Int32
	killed := make(chan string, 1)
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for acked.Load() < 200 {
			time.Sleep(time.Millisecond)
		}
		// The node this server is connected to: the hardest case.
		name := nc.ConnectedServerName()
		for i, nd := range cl.Nodes {
			if name == fmt.Sprintf("n%d", i) {
				nd.Stop()
			}
		}
		killed <- name
	}()
	seq := func(yield func([]byte) bool) {
		for i, p := range want {
			if i == 300 {
				<-gone // the last 300 go out after the node is down
			}
			if !yield([]byte(p)) {
				return
			}
		}
	}
	err = c.SendAll(t.Context(), seq, func(i int, r client.Result, err error) {
		log.record(want[i], r, err)
		if err == nil {
			acked.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed node %s; %d NACK busy retried; forwarder %+v", <-killed, log.busy, st.fwd.Stats())
	waitConnected(t, nc.IsConnected)
	log.check(t, readStream(t, js, "UDPKIT"), want, true)
}

func TestNewErrors(t *testing.T) {
	node := natstest.Start(t)
	nc := connect(t, node.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := New(ctx, nc, Config{}); !errors.Is(err, ErrNoStream) {
		t.Errorf("no stream: %v, want ErrNoStream", err)
	}
	if _, err := New(ctx, nc, Config{Stream: "NOPE"}); !errors.Is(err, ErrNoStream) {
		t.Errorf("named stream missing: %v, want ErrNoStream", err)
	}
	for _, subj := range []string{"udpkit..x", "udpkit.>", "a b", "udpkit.*", "a.{bogus}", "udpkit.{instace}", "udpkit.{source", "x}"} {
		if _, err := New(ctx, nc, Config{Subject: subj}); !errors.Is(err, ErrBadSubject) {
			t.Errorf("subject %q: %v, want ErrBadSubject", subj, err)
		}
	}
	addStream(t, nc, "UDPKIT", 1)
	f, err := New(ctx, nc, Config{Subject: "udpkit.{service}.{instance}.{source}", Instance: "hub.1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Subject(netip.MustParseAddr("fd18::1")); got != "udpkit._udpkit__udp.hub_1.fd18__1" {
		t.Errorf("subject %q", got)
	}
	var _ njs.JetStream = f.js
}

// A named stream that exists but stores other subjects is refused at
// once, naming the stream, its subjects and ours: otherwise every publish
// fails ("no response from stream") and every device gets NACK busy.
func TestNewStreamNotStoringSubject(t *testing.T) {
	node := natstest.Start(t)
	nc := connect(t, node.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, _ := njs.New(nc)
	if _, err := js.CreateStream(ctx, njs.StreamConfig{Name: "UDPKIT", Subjects: []string{"other.>", "udpkit.kitchen.one"}}); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"", "udpkit.kitchen.{source}", "udpkit.kitchen"} {
		_, err := New(ctx, nc, Config{Stream: "UDPKIT", Subject: subj, Instance: "kitchen"})
		if !errors.Is(err, ErrNotStored) || !strings.Contains(err.Error(), `"UDPKIT"`) || !strings.Contains(err.Error(), "other.>") {
			t.Errorf("subject %q into a stream of other.>: %v, want ErrNotStored naming the stream and its subjects", subj, err)
		}
	}
	if _, err := js.UpdateStream(ctx, njs.StreamConfig{Name: "UDPKIT", Subjects: []string{"other.>", "udpkit.*.*"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, nc, Config{Stream: "UDPKIT", Subject: "udpkit.kitchen.{source}"}); err != nil {
		t.Errorf("udpkit.kitchen.{source} into udpkit.*.*: %v", err)
	}
	if _, err := New(ctx, nc, Config{Stream: "UDPKIT", Subject: "udpkit.a.b.{source}"}); !errors.Is(err, ErrNotStored) {
		t.Errorf("four tokens into udpkit.*.*: %v, want ErrNotStored", err)
	}
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		filter, pattern string
		want            bool
	}{
		{"udpkit.>", "udpkit.a", true},
		{"udpkit.>", "udpkit.a.*", true},
		{"udpkit.>", "udpkit", false},
		{"udpkit.*", "udpkit.*", true},
		{"udpkit.*", "udpkit.a.b", false},
		{"udpkit.a", "udpkit.*", false},
		{"udpkit.a", "udpkit.a", true},
		{">", "x", true},
		{"*.a", "b.a", true},
		{"other.>", "udpkit.a", false},
	} {
		if got := covers(tc.filter, tc.pattern); got != tc.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tc.filter, tc.pattern, got, tc.want)
		}
	}
}

// A NATS server without JetStream is named as such, not as "no responders".
func TestNewWithoutJetStream(t *testing.T) {
	node := natstest.StartWith(t, func(o *server.Options) { o.JetStream = false })
	nc := connect(t, node.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, cfg := range []Config{{}, {Stream: "UDPKIT"}} {
		if _, err := New(ctx, nc, cfg); !errors.Is(err, ErrNoJetStream) {
			t.Errorf("%+v: %v, want ErrNoJetStream", cfg, err)
		}
	}
	if _, err := EnsureStream(ctx, nc, njs.StreamConfig{Name: "UDPKIT"}); !errors.Is(err, ErrNoJetStream) || strings.Contains(err.Error(), "no responders") {
		t.Errorf("EnsureStream: %v, want ErrNoJetStream", err)
	}
}

// A duplicate window shorter than a device's retransmission span is
// warned about: a late retransmission could be stored twice.
func TestShortDuplicateWindowWarns(t *testing.T) {
	node := natstest.Start(t)
	nc := connect(t, node.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := EnsureStream(ctx, nc, njs.StreamConfig{Name: "SHORT", Subjects: []string{"short.>"}}); err != nil {
		t.Fatal(err)
	}
	js, _ := njs.New(nc)
	if _, err := js.UpdateStream(ctx, njs.StreamConfig{Name: "SHORT", Subjects: []string{"short.>"}, Duplicates: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	if _, err := New(ctx, nc, Config{Subject: "short.{instance}", Logger: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "duplicate window is shorter") {
		t.Errorf("no warning about a 10 s duplicate window: %q", logs.String())
	}
	// EnsureStream on an existing stream changes nothing.
	if created, err := EnsureStream(ctx, nc, njs.StreamConfig{Name: "SHORT"}); err != nil || created {
		t.Errorf("EnsureStream on an existing stream: %v %v", created, err)
	}
}

func TestDefaultConfig(t *testing.T) {
	node := natstest.Start(t)
	nc := connect(t, node.URL())
	if _, err := EnsureStream(t.Context(), nc, njs.StreamConfig{Name: "D", Subjects: []string{"udpkit.udpkit"}}); err != nil {
		t.Fatal(err)
	}
	zero, err := New(t.Context(), nc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if zero.cfg != DefaultConfig() {
		t.Errorf("the zero Config resolves to %+v, DefaultConfig says %+v", zero.cfg, DefaultConfig())
	}
}

// TestForwardPendingBounded: with the broker gone nothing is confirmed; the
// first MaxPending messages wait for their deadline, the rest get NACK busy
// at once, and after the deadline the waiting ones get NACK busy too and
// their slots are free again.
func TestForwardPendingBounded(t *testing.T) {
	const bound, n = 3, 10
	node := natstest.Start(t)
	nc := connect(t, node.URL())
	addStream(t, nc, "UDPKIT", 1)
	timeout := 2 * time.Second
	st := startStack(t, nc, Config{Timeout: timeout, MaxPending: bound}, nil)
	node.Stop()
	waitConnected(t, func() bool { return !nc.IsConnected() })

	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	start := time.Now()
	for id := uint64(1); id <= n; id++ {
		if _, err := sock.WriteToUDPAddrPort(wire.AppendData(nil, id, []byte("x")), st.addr); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 2048)
	for got := 0; got < n; got++ {
		sock.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, _, err := sock.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("reply %d of %d: %v", got+1, n, err)
		}
		h, _, err := wire.Parse(buf[:k])
		if err != nil || h.Type != wire.TypeNack || h.Code != wire.CodeBusy {
			t.Fatalf("reply %+v %v, want NACK busy", h, err)
		}
		if got == n-bound-1 {
			// The refusals past the bound came before any deadline.
			if el := time.Since(start); el >= timeout {
				t.Errorf("%d refusals took %v, not at once (timeout %v)", n-bound, el, timeout)
			}
			if p := st.fwd.Stats().Pending; p != bound {
				t.Errorf("pending %d, want %d", p, bound)
			}
		}
	}
	if el := time.Since(start); el < timeout {
		t.Errorf("the last refusals came after %v, before the timeout %v", el, timeout)
	}
	if s := st.fwd.Stats(); s.Pending != 0 || s.Failed != n || s.Stored != 0 {
		t.Errorf("stats %+v, want %d failed, none pending or stored", s, n)
	}
}
