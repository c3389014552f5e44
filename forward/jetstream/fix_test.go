package jetstream

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/internal/natstest"
	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"
)

// A keyed device that changes port and reaches another server is stored
// once: the Nats-Msg-Id names its key ID and sender ID, not its address.
func TestForwardKeyedSenderStoredOnce(t *testing.T) {
	node := natstest.Start(t)
	nc := connect(t, node.URL())
	js := addStream(t, nc, "UDPKIT", 1)
	keys, err := auth.NewKeyringID(7)
	if err != nil {
		t.Fatal(err)
	}
	a := startStackServer(t, nc, Config{Instance: "a"}, nil, &udpserver.Server{Keys: keys})
	b := startStackServer(t, nc, Config{Instance: "b"}, nil, &udpserver.Server{Keys: keys})
	dev, err := auth.NewSender(keys, auth.SenderConfig{ID: 0xabc})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []netip.AddrPort{a.addr, b.addr} {
		// A new socket each time: the device restarted its socket, or
		// another NAT mapping.
		sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		dg, err := dev.Sign(wire.AppendData(nil, 0x1234, []byte("keyed reading")))
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := exchangeBody(t, sock, to, dg); h.Type != wire.TypeAck || h.ID != 0x1234 {
			t.Fatalf("reply from %v: %+v, want ACK", to, h)
		}
		sock.Close()
	}
	msgs := readStream(t, js, "UDPKIT")
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages (%+v), want the reading once", len(msgs), msgs)
	}
	if got, want := msgs[0].msgID, KeyMsgID(7, 0xabc, 0x1234); got != want || want != "key:7:abc/1234" {
		t.Errorf("Nats-Msg-Id %q, want %q (key:7:abc/1234)", got, want)
	}
	if !strings.HasPrefix(msgs[0].hdr.Get(HeaderSource), "127.0.0.1:") {
		t.Errorf("Udpkit-Source %q, want the sender's address", msgs[0].hdr.Get(HeaderSource))
	}
	if d := b.fwd.Stats().Duplicates; d != 1 {
		t.Errorf("server b saw %d duplicates, want 1", d)
	}
}

func TestMsgIDFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{MsgID(netip.MustParseAddrPort("198.18.0.5:4000"), 0x1c), "198.18.0.5:4000/1c"},
		{MsgID(netip.MustParseAddrPort("[fd18::5]:4000"), 1), "[fd18::5]:4000/1"},
		// The zone is the receiving server's name of its interface: two
		// servers on one link must give one sender one identity.
		{MsgID(netip.MustParseAddrPort("[fe80::5%eth0]:4000"), 1), "[fe80::5]:4000/1"},
		{MsgID(netip.MustParseAddrPort("[fe80::5%br0]:4000"), 1), "[fe80::5]:4000/1"},
		{MsgID(netip.MustParseAddrPort("198.18.0.5:4000"), 0), ""},
		{KeyMsgID(7, 0x3fa2, 0x1c), "key:7:3fa2/1c"},
		{KeyMsgID(65535, 1<<63, 1), "key:65535:8000000000000000/1"},
		{KeyMsgID(7, 0x3fa2, 0), ""},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// exchangeBody sends dg to to and returns the reply's header and body.
func exchangeBody(t testing.TB, sock *net.UDPConn, to netip.AddrPort, dg []byte) (wire.Header, string) {
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
	h, body, err := wire.Parse(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return h, string(body)
}

// records is a slog.Handler that keeps every record, for the tests of the
// log lines.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec.Clone())
	r.mu.Unlock()
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// info returns the info records whose message contains sub, with their
// attributes as text.
func (r *records) info(sub string) (lines []map[string]string, at []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec.Level != slog.LevelInfo || !strings.Contains(rec.Message, sub) {
			continue
		}
		m := map[string]string{}
		rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
		lines, at = append(lines, m), append(at, rec.Time)
	}
	return lines, at
}

// A stream that is full refuses the messages: each gets NACK busy with
// wire.ReasonNotStored, and the log has one info line at the first failure
// and then at most one per LogEvery with the counts.
func TestForwardNotStoredReasonAndLog(t *testing.T) {
	node := natstest.Start(t)
	nc := connect(t, node.URL())
	js, err := njs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(t.Context(), njs.StreamConfig{Name: "FULL", Subjects: []string{"udpkit.>"},
		Duplicates: MinDuplicates, MaxMsgs: 1, Discard: njs.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	rec := &records{}
	const every = 1500 * time.Millisecond
	st := startStack(t, nc, Config{Logger: slog.New(rec), LogEvery: every}, nil)
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	const n = 6
	for i := range n {
		dg := wire.AppendData(nil, uint64(100+i), fmt.Appendf(nil, "a reading long enough for a reason, number %d", i))
		h, body := exchangeBody(t, sock, st.addr, dg)
		switch {
		case i == 0 && h.Type != wire.TypeAck:
			t.Fatalf("first message: %+v %q, want ACK", h, body)
		case i > 0 && (h.Type != wire.TypeNack || h.Code != wire.CodeBusy || body != wire.ReasonNotStored):
			t.Fatalf("message %d: %+v %q, want NACK busy %q", i, h, body, wire.ReasonNotStored)
		}
	}
	const msg = "messages not stored"
	lines, _ := rec.info(msg)
	if len(lines) == 0 || lines[0]["not_stored"] != "1" || lines[0]["stream_full"] != "1" || !strings.Contains(lines[0]["last_err"], "maximum messages") {
		t.Fatalf("first lines %v, want one at the first failure: not_stored=1 stream_full=1", lines)
	}
	// The rest are counted into a later line, written by the sweeper once
	// LogEvery has passed even without another failure.
	var at []time.Time
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		lines, at = rec.info(msg)
		total := 0
		for _, l := range lines {
			var k int
			fmt.Sscan(l["not_stored"], &k)
			total += k
		}
		if total == n-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lines %v count %d failures, want %d", lines, total, n-1)
		}
	}
	// Lines are at least every apart on the limiter's clock, which each
	// line reports as since_last_line. Not on the records' times: slog
	// stamps a record after the limiter let it through, so a loaded
	// machine delays one line's stamp more than the next one's.
	for i := 1; i < len(lines); i++ {
		d, err := time.ParseDuration(lines[i]["since_last_line"])
		if err != nil || d < every {
			t.Errorf("line %d: since_last_line %q (%v), want at least %v (records stamped %v apart)", i, lines[i]["since_last_line"], err, every, at[i].Sub(at[i-1]))
		}
	}
	if len(lines) < 2 || lines[1]["since_last_line"] == "" {
		t.Errorf("lines %v: want a second line with since_last_line", lines)
	}
}

// The broker going away and coming back is logged at info level, and a
// device meanwhile gets NACK busy "not stored".
func TestForwardLogsConnection(t *testing.T) {
	node := natstest.Start(t)
	nc := connect(t, node.URL())
	addStream(t, nc, "UDPKIT", 1)
	rec := &records{}
	st := startStack(t, nc, Config{Logger: slog.New(rec), Timeout: 300 * time.Millisecond}, nil)
	node.Stop()
	waitLine(t, rec, "NATS connection lost")
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	if h, body := exchangeBody(t, sock, st.addr, wire.AppendData(nil, 9, []byte("while the broker is down"))); h.Code != wire.CodeBusy || body != wire.ReasonNotStored {
		t.Errorf("reply %+v %q, want NACK busy %q", h, body, wire.ReasonNotStored)
	}
	node.Restart()
	back := waitLine(t, rec, "NATS connection back")
	if back["down_for"] == "" || back["not_stored_meanwhile"] != "1" {
		t.Errorf("connection back line %v: want down_for and not_stored_meanwhile=1", back)
	}
}

func waitLine(t testing.TB, rec *records, sub string) map[string]string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if lines, _ := rec.info(sub); len(lines) > 0 {
			return lines[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no info line %q after 20 s", sub)
		}
	}
}
