package multicast

import (
	"testing"
	"time"
)

func TestSeqTracker(t *testing.T) {
	tests := []struct {
		name                     string
		seqs                     []uint32
		first, highest, received uint32
		dups, reordered          int
	}{
		{"in order", []uint32{1, 2, 3}, 1, 3, 3, 0, 0},
		{"gap", []uint32{1, 3, 6}, 1, 6, 3, 0, 0},
		{"dup", []uint32{1, 2, 2, 3, 3}, 1, 3, 3, 2, 0},
		{"reorder", []uint32{1, 3, 2, 4}, 1, 4, 4, 0, 1},
		{"late first", []uint32{5, 6, 4, 4}, 4, 6, 3, 1, 1},
		{"start late", []uint32{100, 101}, 100, 101, 2, 0, 0},
		{"far", []uint32{1, 1 + maxTrackedSeqs + 5, 1 + maxTrackedSeqs + 5}, 1, 1 + maxTrackedSeqs + 5, 3, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr seqTracker
			for _, s := range tc.seqs {
				tr.add(s)
			}
			if tr.first != tc.first || tr.highest != tc.highest || tr.received != tc.received ||
				tr.dups != tc.dups || tr.reordered != tc.reordered {
				t.Errorf("got first=%d highest=%d received=%d dups=%d reordered=%d",
					tr.first, tr.highest, tr.received, tr.dups, tr.reordered)
			}
		})
	}
}

func TestRTTStats(t *testing.T) {
	var s rttStats
	for _, ms := range []int{1, 2, 3, 4} {
		s.add(time.Duration(ms) * time.Millisecond)
	}
	if s.min != time.Millisecond || s.max != 4*time.Millisecond || time.Duration(s.mean) != 2500*time.Microsecond {
		t.Errorf("%+v", s)
	}
	// population std-dev of 1,2,3,4 ms = sqrt(1.25) ms
	if d := s.stddev(); d < 1118*time.Microsecond || d > 1119*time.Microsecond {
		t.Errorf("stddev %v", d)
	}
}

func TestLossPercent(t *testing.T) {
	for _, tc := range []struct {
		xmt, rcv int
		want     float64
	}{{0, 0, 0}, {10, 10, 0}, {10, 0, 100}, {200, 160, 20}, {10, 11, 0}} {
		if got := lossPercent(tc.xmt, tc.rcv); got != tc.want {
			t.Errorf("lossPercent(%d, %d) = %v, want %v", tc.xmt, tc.rcv, got, tc.want)
		}
	}
}

func TestStatus(t *testing.T) {
	ok := &KindReport{Xmt: 10, Rcv: 10, From: FlowReport{Expected: 10, Received: 10}}
	lossy := &KindReport{Xmt: 10, Rcv: 8, Loss: 20, From: FlowReport{Expected: 10, Received: 9, Loss: 10}}
	none := &KindReport{Xmt: 10, Rcv: 0, Loss: 100}
	tests := []struct {
		name string
		p    PeerReport
		want string
	}{
		{"ok", PeerReport{Answered: true, Member: "yes", Multicast: ok, Unicast: ok}, StatusOK},
		{"silent", PeerReport{Multicast: none, Unicast: none}, StatusNoAnswer},
		{"not joined", PeerReport{Answered: true, Member: "no", Multicast: none, Unicast: ok}, StatusNotJoined},
		{"blocked", PeerReport{Answered: true, Member: "yes", Multicast: none, Unicast: ok}, StatusNoMcast},
		{"loss", PeerReport{Answered: true, Member: "yes", Multicast: lossy, Unicast: ok}, StatusLoss},
		{"unicast only ok", PeerReport{Answered: true, Member: "yes", Unicast: ok}, StatusOK},
		{"unicast only loss", PeerReport{Answered: true, Member: "no", Unicast: lossy}, StatusLoss},
		{"unicast only none", PeerReport{Answered: true, Member: "no", Unicast: none}, StatusNoUcast},
		{"no unicast", PeerReport{Answered: true, Member: "yes", Multicast: ok, Unicast: none}, StatusNoUcast},
		{"no unicast, lossy group", PeerReport{Answered: true, Member: "yes", Multicast: lossy, Unicast: none}, StatusNoUcast},
		{"not joined, no unicast", PeerReport{Answered: true, Member: "no", Multicast: none, Unicast: none}, StatusNotJoined},
		{"nothing by unicast from it", PeerReport{Answered: true, Member: "yes",
			Multicast: ok, Unicast: &KindReport{Xmt: 10, Rcv: 10}}, StatusNoUcast},
		{"unicast loss, group ok", PeerReport{Answered: true, Member: "yes", Multicast: ok, Unicast: lossy}, StatusOK},
		{"ssm receiver no unicast", PeerReport{Answered: true, Member: "yes", Unicast: none,
			Multicast: &KindReport{ReceiveOnly: true, From: FlowReport{Expected: 10, Received: 10}}}, StatusNoUcast},
		{"ssm receiver ok", PeerReport{Answered: true, Member: "yes", Unicast: ok,
			Multicast: &KindReport{ReceiveOnly: true, From: FlowReport{Expected: 10, Received: 10}}}, StatusOK},
		{"ssm receiver loss", PeerReport{Answered: true, Member: "yes", Unicast: ok,
			Multicast: &KindReport{ReceiveOnly: true, From: FlowReport{Expected: 10, Received: 8, Loss: 20}}}, StatusLoss},
		{"ssm receiver nothing", PeerReport{Answered: true, Member: "yes", Unicast: ok,
			Multicast: &KindReport{ReceiveOnly: true}}, StatusNoMcast},
	}
	for _, tc := range tests {
		if got := tc.p.Status(5); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
