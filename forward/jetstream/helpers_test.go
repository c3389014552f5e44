package jetstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/udpserver"
)

// connect connects to url with fast reconnects, as a server that must
// ride out a broker restart would.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1),
		nats.Timeout(2*time.Second), nats.NoCallbacksAfterClientClose())
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// addStream creates stream name storing udpkit.> with the replicas asked.
func addStream(t testing.TB, nc *nats.Conn, name string, replicas int) njs.JetStream {
	t.Helper()
	js, err := njs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := njs.StreamConfig{Name: name, Subjects: []string{"udpkit.>"},
		Storage: njs.FileStorage, Replicas: replicas, Duplicates: MinDuplicates}
	// A cluster that has just formed may leave a create request unanswered
	// while it places the replicas; the request is idempotent (the same
	// config again succeeds), so ask again with a short timeout each time.
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := js.CreateOrUpdateStream(ctx, cfg)
		cancel()
		if err == nil {
			return js
		}
		if time.Now().After(deadline) {
			t.Fatalf("create stream: %v", err)
		}
		t.Logf("create stream: %v; trying again", err)
		time.Sleep(200 * time.Millisecond)
	}
}

// stack is a udpserver forwarding into JetStream.
type stack struct {
	srv  *udpserver.Server
	fwd  *Forwarder
	addr netip.AddrPort
	done chan error
}

// startStack serves pc (nil: a new socket on 127.0.0.1) with a Forwarder
// publishing through nc.
func startStack(t testing.TB, nc *nats.Conn, cfg Config, pc net.PacketConn) *stack {
	t.Helper()
	return startStackServer(t, nc, cfg, pc, &udpserver.Server{})
}

// startStackServer is startStack with srv's settings (its Handler is set to
// the forwarder).
func startStackServer(t testing.TB, nc *nats.Conn, cfg Config, pc net.PacketConn, srv *udpserver.Server) *stack {
	t.Helper()
	fwd, err := New(t.Context(), nc, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if pc == nil {
		if pc, err = udpserver.Listen(t.Context(), "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	srv.Handler = fwd
	st := &stack{srv: srv, fwd: fwd, done: make(chan error, 1)}
	st.addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	go func() { st.done <- st.srv.Serve(pc) }()
	t.Cleanup(func() { st.stop(t) })
	return st
}

func (st *stack) stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := st.fwd.Close(ctx); err != nil {
		t.Errorf("forwarder Close: %v", err)
	}
	if err := <-st.done; !errors.Is(err, udpserver.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	st.done <- udpserver.ErrServerClosed // idempotent
}

// stored is one message read back from the stream.
type stored struct {
	seq   uint64
	msgID string
	data  string
	at    time.Time
	hdr   nats.Header
}

// readStream returns every message of the stream, in order.
func readStream(t testing.TB, js njs.JetStream, name string) []stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		out = append(out, stored{seq: seq, msgID: m.Header.Get(njs.MsgIDHeader), data: string(m.Data), at: m.Time, hdr: m.Header})
	}
	if uint64(len(out)) != info.State.Msgs {
		t.Fatalf("read %d messages, the stream says %d", len(out), info.State.Msgs)
	}
	return out
}

// ackLog records when each payload was acknowledged, and by whom.
type ackLog struct {
	mu    sync.Mutex
	acked map[string]time.Time
	busy  int
	fails []string
}

func newAckLog() *ackLog { return &ackLog{acked: map[string]time.Time{}} }

func (l *ackLog) record(payload string, r client.Result, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.busy += r.Busy
	if err != nil {
		l.fails = append(l.fails, fmt.Sprintf("%s: %v", payload, err))
		return
	}
	if _, dup := l.acked[payload]; dup {
		l.fails = append(l.fails, payload+": acknowledged twice")
	}
	l.acked[payload] = time.Now()
}

// check asserts that the stream holds each of want payloads exactly once,
// that every acknowledged payload is in it, and that each was stored
// before its acknowledgement arrived (both clocks are this machine's).
func (l *ackLog) check(t testing.TB, msgs []stored, want []string, allAcked bool) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.fails[:min(len(l.fails), 10)] {
		if allAcked {
			t.Errorf("not acknowledged: %s", f)
		}
	}
	byData := map[string]stored{}
	ids := map[string]bool{}
	for _, m := range msgs {
		if _, dup := byData[m.data]; dup {
			t.Errorf("%q stored twice (seq %d and %d)", m.data, byData[m.data].seq, m.seq)
		}
		byData[m.data] = m
		if m.msgID == "" || ids[m.msgID] {
			t.Errorf("seq %d: Nats-Msg-Id %q empty or repeated", m.seq, m.msgID)
		}
		ids[m.msgID] = true
	}
	for p, at := range l.acked {
		m, ok := byData[p]
		if !ok {
			t.Errorf("%q acknowledged but not stored", p)
			continue
		}
		if m.at.After(at) {
			t.Errorf("%q acknowledged at %v, before it was stored at %v", p, at, m.at)
		}
	}
	if allAcked {
		if len(l.acked) != len(want) {
			t.Errorf("%d of %d acknowledged", len(l.acked), len(want))
		}
		if len(msgs) != len(want) {
			t.Errorf("stream holds %d messages, want %d", len(msgs), len(want))
		}
	}
	for _, p := range want {
		if _, ok := byData[p]; !ok && allAcked {
			t.Errorf("%q missing from the stream", p)
		}
	}
}

// payloads returns n distinct payloads.
func payloads(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("reading %04d", i)
	}
	return out
}

// sendAll sends every payload with c and records the outcomes.
func sendAll(ctx context.Context, c *client.Client, ps []string, log *ackLog) error {
	seq := func(yield func([]byte) bool) {
		for _, p := range ps {
			if !yield([]byte(p)) {
				return
			}
		}
	}
	return c.SendAll(ctx, seq, func(i int, r client.Result, err error) { log.record(ps[i], r, err) })
}
