package jetstream

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/udpkit/udpkit/udpserver"
)

// TestFillShapes fills one pooled message with requests of every shape in
// turn (DATA with and without a destination, raw, keyed) and checks each
// header set in full: a reused message keeps no key or value of the one
// before, and its strings over the reused buffer say what they should.
func TestFillShapes(t *testing.T) {
	f := &Forwarder{cfg: Config{Instance: "inst"}, stream: "S", subject: "udpkit.inst", inbox: "_INBOX.abc."}
	now := time.Date(2026, 12, 1, 12, 0, 0, 123456789, time.UTC)
	src := netip.MustParseAddrPort("198.18.0.7:4000")
	dst := netip.MustParseAddrPort("198.18.0.1:9797")
	// Zones this long make the values outgrow outBuf: fill falls back to a
	// string of their own (the source is written without its zone).
	long := netip.AddrPortFrom(netip.MustParseAddr("fd18:1111:2222:3333:4444:5555:6666:7777").WithZone(strings.Repeat("a", 150)), 65535)
	longDst := netip.AddrPortFrom(netip.MustParseAddr("fd18:aaaa:bbbb:cccc:dddd:eeee:ffff:1111").WithZone(strings.Repeat("b", 300)), 65534)
	tests := []struct {
		name  string
		r     udpserver.Request
		seq   uint64
		reply string
		want  map[string]string
	}{
		{"data with destination", udpserver.Request{ID: 0x1c, Remote: src, Local: dst}, 35, "_INBOX.abc.z", map[string]string{
			HeaderSource: "198.18.0.7:4000", HeaderDestination: "198.18.0.1:9797", HeaderReceived: "2026-12-01T12:00:00.123456789Z",
			HeaderKind: "data", HeaderMessageID: "000000000000001c", HeaderInstance: "inst",
			njs.MsgIDHeader: "198.18.0.7:4000/1c", njs.ExpectedStreamHeader: "S"}},
		{"data without destination", udpserver.Request{ID: 0xffffffffffffffff, Remote: src}, 36, "_INBOX.abc.10", map[string]string{
			HeaderSource: "198.18.0.7:4000", HeaderReceived: "2026-12-01T12:00:00.123456789Z",
			HeaderKind: "data", HeaderMessageID: "ffffffffffffffff", HeaderInstance: "inst",
			njs.MsgIDHeader: "198.18.0.7:4000/ffffffffffffffff", njs.ExpectedStreamHeader: "S"}},
		{"raw", udpserver.Request{Raw: true, Remote: src, Local: dst}, 1, "_INBOX.abc.1", map[string]string{
			HeaderSource: "198.18.0.7:4000", HeaderDestination: "198.18.0.1:9797", HeaderReceived: "2026-12-01T12:00:00.123456789Z",
			HeaderKind: "raw", HeaderInstance: "inst", njs.ExpectedStreamHeader: "S"}},
		{"keyed", udpserver.Request{ID: 7, Remote: src, Local: dst, Authenticated: true, KeyID: 3, Sender: 0x3fa2}, 2, "_INBOX.abc.2", map[string]string{
			HeaderSource: "198.18.0.7:4000", HeaderDestination: "198.18.0.1:9797", HeaderReceived: "2026-12-01T12:00:00.123456789Z",
			HeaderKind: "data", HeaderMessageID: "0000000000000007", HeaderInstance: "inst",
			njs.MsgIDHeader: "key:3:3fa2/7", njs.ExpectedStreamHeader: "S"}},
		{"longer than the buffer", udpserver.Request{ID: 0xffffffffffffffff, Remote: long, Local: longDst, Authenticated: true, KeyID: 65535, Sender: 0xffffffffffffffff},
			1 << 62, "_INBOX.abc." + strconv.FormatUint(1<<62, 36), map[string]string{
				HeaderSource: netip.AddrPortFrom(long.Addr().WithZone(""), long.Port()).String(), HeaderDestination: longDst.String(), HeaderReceived: "2026-12-01T12:00:00.123456789Z",
				HeaderKind: "data", HeaderMessageID: "ffffffffffffffff", HeaderInstance: "inst",
				njs.MsgIDHeader: "key:65535:ffffffffffffffff/ffffffffffffffff", njs.ExpectedStreamHeader: "S"}},
		{"data again", udpserver.Request{ID: 0x1c, Remote: src, Local: dst}, 35, "_INBOX.abc.z", map[string]string{
			HeaderSource: "198.18.0.7:4000", HeaderDestination: "198.18.0.1:9797", HeaderReceived: "2026-12-01T12:00:00.123456789Z",
			HeaderKind: "data", HeaderMessageID: "000000000000001c", HeaderInstance: "inst",
			njs.MsgIDHeader: "198.18.0.7:4000/1c", njs.ExpectedStreamHeader: "S"}},
	}
	o := &outMsg{m: nats.Msg{Header: make(nats.Header, 8)}, shape: -1}
	for _, tt := range tests {
		f.fill(o, &tt.r, tt.seq, now)
		if o.m.Subject != "udpkit.inst" || o.m.Reply != tt.reply {
			t.Errorf("%s: subject %q reply %q, want udpkit.inst %q", tt.name, o.m.Subject, o.m.Reply, tt.reply)
		}
		got := map[string]string{}
		for k, vs := range o.m.Header {
			if len(vs) != 1 {
				t.Errorf("%s: header %s has %d values", tt.name, k, len(vs))
			}
			got[k] = strings.Join(vs, ",")
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: headers %v, want %v", tt.name, got, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tt.name, k, got[k], v)
			}
		}
		o.m.Data, o.m.Reply, o.vals = nil, "", [8]string{} // as ServeUDP does after the publish
	}
}

// TestFillAllocs: filling a message allocates nothing (its strings are
// over the message's own buffer).
func TestFillAllocs(t *testing.T) {
	f := &Forwarder{cfg: Config{Instance: "inst"}, stream: "S", subject: "udpkit.inst", inbox: "_INBOX.abcdefghijklmnopqrstuv."}
	r := udpserver.Request{ID: 0x1c, Remote: netip.MustParseAddrPort("127.0.0.1:4000"), Local: netip.MustParseAddrPort("127.0.0.1:9797"), Payload: make([]byte, 104)}
	o := &outMsg{m: nats.Msg{Header: make(nats.Header, 8)}, shape: -1}
	now := time.Now()
	seq := uint64(1)
	if n := testing.AllocsPerRun(1000, func() { f.fill(o, &r, seq, now); seq++ }); n != 0 {
		t.Errorf("fill: %.1f allocations, want 0", n)
	}
}
