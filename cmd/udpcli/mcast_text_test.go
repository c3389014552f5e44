package main

// The text of mcast test and listen: omping's lines and statistics.

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/multicast"
	"github.com/udpkit/udpkit/wire"
)

func TestPct(t *testing.T) {
	for v, want := range map[float64]string{0: "0%", 100: "100%", 19.54: "19.5%", 5: "5%", 33.333: "33.3%"} {
		if got := pct(v); got != want {
			t.Errorf("pct(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestMcastGrammar checks the summary lines that used to read "1 peers"
// and "0 of 0 peers received the group".
func TestMcastGrammar(t *testing.T) {
	var b bytes.Buffer
	r := &multicast.Report{Group: netip.MustParseAddrPort("239.1.1.1:7"), Joined: true, Ignored: 1, IgnoredSources: 1}
	writeSummary(&b, r, 5)
	if s := b.String(); !strings.Contains(s, "no peer found") || strings.Contains(s, "0 of 0") ||
		!strings.Contains(s, "1 group probe from 1 unknown source,") {
		t.Errorf("summary without peers:\n%s", s)
	}
	k := &multicast.KindReport{Xmt: 30, Rcv: 30, First: 21, TTLSeen: -1}
	if s := kindLine(k); !strings.Contains(s, "30/30/0% from seq 21") {
		t.Errorf("kindLine = %q", s)
	}
}

// TestMcastSummary: the whole statistics of two peers, one failing, in
// omping's layout.
func TestMcastSummary(t *testing.T) {
	ms := time.Millisecond
	good := multicast.PeerReport{Peer: netip.MustParseAddrPort("198.18.0.11:9797"), Answered: true, Member: "yes", Interface: "eth0", Discovered: true,
		Multicast: &multicast.KindReport{Xmt: 10, Rcv: 10, Sent: 10, Replies: 10, RTTMin: ms, RTTAvg: 2 * ms, RTTMax: 3 * ms, RTTStdDev: ms / 2, TTLSeen: 1,
			From: multicast.FlowReport{Expected: 10, Received: 9, Loss: 10, TTL: 1, Duplicates: 1}},
		Unicast: &multicast.KindReport{Xmt: 10, Rcv: 10, Sent: 10, Replies: 10, RTTMin: ms, RTTAvg: ms, RTTMax: ms, TTLSeen: 64,
			From: multicast.FlowReport{Expected: 10, Received: 10, TTL: 64}}}
	dead := multicast.PeerReport{Peer: netip.MustParseAddrPort("198.18.0.120:9797"), Listed: true,
		Unicast: &multicast.KindReport{Xmt: 10, Sent: 10, RoundTripLoss: 100, Loss: 100, TTLSeen: -1}}
	r := &multicast.Report{Group: netip.MustParseAddrPort("239.1.1.1:9797"), Joined: true, Peers: []multicast.PeerReport{good, dead}, Interrupted: true}
	var b bytes.Buffer
	writeSummary(&b, r, 5)
	want := `
--- 239.1.1.1:9797 mcast test statistics ---
198.18.0.11:9797   multicast : xmt/rcv/%loss = 10/10/0%, min/avg/max/std-dev = 1.000/2.000/3.000/0.500 ms, ttl=1
                   unicast   : xmt/rcv/%loss = 10/10/0%, min/avg/max/std-dev = 1.000/1.000/1.000/0.000 ms, ttl=64
                   from peer : multicast 10/9/10% ttl=1 1 dup, unicast 10/10/0% ttl=64
                   round trip: multicast 10/10/0%, unicast 10/10/0%
                   via       : eth0 (discovered)
                   status    : ok
198.18.0.120:9797  unicast   : xmt/rcv/%loss = 10/0/100%, ttl=?
                   from peer : unicast none
                   round trip: unicast 10/0/100%
                   status    : no answer (nothing came back: host down, firewalled or not running the test)
1 of 2 peers received the group within 5% loss (interrupted)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if n := r.PeersOK(5); n != 1 {
		t.Errorf("PeersOK = %d, want 1", n)
	}
}

func TestMcastEventLine(t *testing.T) {
	peer := netip.MustParseAddrPort("198.18.0.11:9797")
	tests := []struct {
		e    multicast.Event
		want string
	}{
		{multicast.Event{Peer: peer, Reply: true, Kind: wire.KindMulticast, Seq: 3, Size: 40, TTL: 1, RTT: 120 * time.Microsecond},
			"198.18.0.11:9797 : multicast, reply seq=3, size=40 bytes, ttl=1, time=0.120 ms"},
		{multicast.Event{Peer: peer, Kind: wire.KindUnicast, Seq: 4, Size: 32, TTL: -1, Duplicate: true},
			"198.18.0.11:9797 : unicast,  probe seq=4, size=32 bytes, ttl=?, on - (DUP!)"},
		{multicast.Event{Peer: peer, Kind: wire.KindUnicast, Seq: 2, Size: 32, TTL: 64, Interface: "eth0", Reordered: true},
			"198.18.0.11:9797 : unicast,  probe seq=2, size=32 bytes, ttl=64, on eth0 (reordered)"},
	}
	for _, tt := range tests {
		if got := formatEvent(tt.e); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
	p := multicast.Packet{N: 5, Src: peer, TTL: -1}
	if got := packetLine(p); got != "198.18.0.11:9797 > ? on - ttl=? 5 bytes" {
		t.Errorf("packetLine = %q", got)
	}
}
