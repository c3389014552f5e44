package udpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// TestStatsBreakdown checks that the split counters add up to their
// totals, the way udpserver/metrics reports them: Dropped is the sum of
// the reasons, Nacked the sum of NackedByCode, and every handler run is
// timed when MeasureHandlers is set.
func TestStatsBreakdown(t *testing.T) {
	refuse := HandlerFunc(func(ctx context.Context, r *Request) error {
		switch string(r.Payload) {
		case "refuse":
			return errors.New("no")
		case "busy":
			return Reject(wire.CodeBusy, "")
		}
		return nil
	})
	// 9 of ins count against the rate limit (not the empty and the 7
	// malformed datagrams: they are dropped before it), so 13 of the 20
	// DATA below fit the burst of 22.
	s := &Server{Handler: refuse, MeasureHandlers: true, RateLimit: 1, RateBurst: 22}
	big := make([]byte, wire.DefaultMaxDatagram+1)
	ins := [][]byte{
		wire.AppendData(nil, 1, []byte("ok")),
		wire.AppendData(nil, 1, []byte("ok")), // duplicate: ACK again
		wire.AppendData(nil, 2, []byte("refuse")),
		wire.AppendData(nil, 3, []byte("busy")),
		wire.AppendData(nil, 4, big),
		wire.Append(nil, hdr(wire.TypePing, 5), big),
		wire.Append(nil, hdr(wire.TypePing, 6), nil),
		big,
		[]byte("raw"),
		{},
		{wire.Magic0},
		func() []byte { b := wire.AppendData(nil, 1, nil); b[2] = 2; return b }(),
		func() []byte { b := wire.AppendData(nil, 1, nil); b[3] = 0x7f; return b }(),
		func() []byte { b := wire.AppendData(nil, 1, nil); b[4] = 0x80; return b }(),
		wire.Append(nil, wire.Header{Type: wire.TypeData, Flags: wire.FlagAuth, KeyID: 1, ID: 1}, make([]byte, 16)),
		wire.Append(nil, wire.Header{Type: wire.TypeData, Code: 1, ID: 1}, nil),
		wire.AppendAck(nil, 1),
	}
	for _, in := range ins {
		s.process(bg, newPacketFor(s, in, "192.0.2.1:4000"), make([]byte, 0, 2000))
	}
	// Over the burst: the first DATA over it gets NACK "rate limited"
	// (17 bytes, too short for a cookie), the rest is dropped.
	for i := range 20 {
		s.process(bg, newPacketFor(s, wire.AppendData(nil, uint64(100+i), []byte("x")), "192.0.2.1:4000"), make([]byte, 0, 2000))
	}
	st := s.Stats()
	if st.Received != uint64(len(ins)+20) {
		t.Errorf("Received = %d, want %d", st.Received, len(ins)+20)
	}
	reasons := st.InProgress + st.Empty + st.RawDropped + st.Malformed + st.OversizedDropped + st.RateLimitedDropped
	if st.Dropped != reasons || st.Dropped == 0 {
		t.Errorf("Dropped = %d, reasons add up to %d: %+v", st.Dropped, reasons, st)
	}
	malformed := st.MalformedShort + st.MalformedVersion + st.MalformedType + st.MalformedFlags + st.MalformedField + st.Unexpected + st.AuthUnsupported
	if st.Malformed != malformed {
		t.Errorf("Malformed = %d, reasons add up to %d", st.Malformed, malformed)
	}
	var nacks uint64
	for _, n := range st.NackedByCode {
		nacks += n
	}
	if st.Nacked != nacks {
		t.Errorf("Nacked = %d, NackedByCode adds up to %d", st.Nacked, nacks)
	}
	want := map[wire.Code]uint64{wire.CodeRejected: 1, wire.CodeBusy: 1, wire.CodeTooLarge: 1, wire.CodeRateLimited: 1}
	for c, n := range want {
		if st.NackedByCode[c] != n {
			t.Errorf("NackedByCode[%v] = %d, want %d", c, st.NackedByCode[c], n)
		}
	}
	if st.OversizedDropped != 2 || st.Oversized != 3 {
		t.Errorf("Oversized %d, OversizedDropped %d; want 3 and 2", st.Oversized, st.OversizedDropped)
	}
	if st.RateLimited != 7 || st.RateLimitedDropped != 6 {
		t.Errorf("RateLimited %d, RateLimitedDropped %d; want 7 and 6", st.RateLimited, st.RateLimitedDropped)
	}
	if st.HandlerTime.Count != st.Handled || st.Handled == 0 {
		t.Errorf("HandlerTime.Count = %d, Handled = %d", st.HandlerTime.Count, st.Handled)
	}
}

func TestStatsNoMeasure(t *testing.T) {
	s := &Server{Handler: HandlerFunc(func(context.Context, *Request) error { return nil })}
	s.process(bg, newPacketFor(s, wire.AppendData(nil, 1, nil), "192.0.2.1:4000"), make([]byte, 0, 100))
	if st := s.Stats(); st.Handled != 1 || st.HandlerTime.Count != 0 {
		t.Errorf("Handled %d, HandlerTime.Count %d: want 1 and 0 without MeasureHandlers", st.Handled, st.HandlerTime.Count)
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	var tl histTally // a worker's share, published by add
	for _, d := range []time.Duration{0, 10 * time.Microsecond, 10*time.Microsecond + 1, time.Millisecond, time.Minute} {
		tl.observe(int64(d))
	}
	h.add(&tl)
	if tl != (histTally{}) {
		t.Error("add did not zero the tally")
	}
	got := h.snapshot()
	want := map[int]uint64{0: 2, 1: 1, 6: 1, len(HistogramBounds): 1}
	for i, n := range got.Buckets {
		if n != want[i] {
			t.Errorf("bucket %d (le %v) = %d, want %d", i, bound(i), n, want[i])
		}
	}
	if got.Count != 5 || got.Sum != time.Minute+time.Millisecond+20*time.Microsecond+1 {
		t.Errorf("Count %d Sum %v", got.Count, got.Sum)
	}
}

func bound(i int) any {
	if i < len(HistogramBounds) {
		return HistogramBounds[i]
	}
	return "+Inf"
}

// TestSocketDrops fills a real socket's receive buffer while the handler
// is stuck and checks that the kernel's drops show up.
func TestSocketDrops(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("per-socket drops are read from /proc/net/udp (Linux)")
	}
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s := &Server{BatchSize: 1, Handler: HandlerFunc(func(context.Context, *Request) error {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		return nil
	})}
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.1: %v", err)
	}
	pc.SetReadBuffer(4096) // the kernel doubles it and has a floor; a few datagrams fill it
	done := make(chan error, 1)
	go func() { done <- s.Serve(pc) }()
	defer func() {
		s.Close()
		<-done
	}()
	defer close(release)
	c := dial(t, "udp4", pc.LocalAddr().(*net.UDPAddr).AddrPort())
	c.Write(wire.AppendData(nil, 1, []byte("stuck")))
	select {
	case <-started:
	case <-time.After(waitTimeout):
		t.Fatal("handler never ran")
	}
	msg := wire.AppendData(nil, 2, make([]byte, 1000))
	for range 2000 {
		c.Write(msg)
	}
	n, err := s.SocketDrops()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Errorf("SocketDrops = 0 after 2000 datagrams into a full 4 KiB buffer")
	}
	t.Logf("SocketDrops = %d", n)
}

// TestDropLogs: at debug level every kind of drop is logged with its
// reason, within the log budget.
func TestDropLogs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := &Server{Logger: log, DisableRaw: true, RateLimit: 1, RateBurst: 4}
	big := make([]byte, wire.DefaultMaxDatagram+1)
	for i, in := range [][]byte{
		{},
		[]byte("raw"),
		wire.Append(nil, hdr(wire.TypePing, 1), big),
	} {
		s.process(bg, newPacketFor(s, in, fmt.Sprintf("192.0.2.%d:4000", i+1)), make([]byte, 0, 2000))
	}
	for range 100 { // one source over its limit: one NACK, then drops
		s.process(bg, newPacketFor(s, wire.AppendData(nil, 7, nil), "192.0.2.9:4000"), make([]byte, 0, 2000))
	}
	out := buf.String()
	for _, want := range []string{`reason=empty`, `reason="raw disabled"`, `reason=oversized`, `reason="rate limited"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no drop logged with %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "dropped datagram"); n > logBurst {
		t.Errorf("%d drop lines for 100 drops in an instant: not rate-limited", n)
	}
	if st := s.Stats(); st.Dropped < 90 {
		t.Errorf("Dropped = %d", st.Dropped)
	}
}
