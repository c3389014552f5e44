package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/udpkit/udpkit/internal/cli"
)

// TestCLIMcastDiscoverTwoHosts: two hosts without peer lists find each
// other by discovery; each must measure the other's unicast and multicast
// probes, and say so in its status and exit code. Several runs: the
// defect it guards against (one side's unicast probes never counted while
// both said "ok") showed in most runs, not all.
func TestCLIMcastDiscoverTwoHosts(t *testing.T) {
	lab, bin := mcastLab(t, 2)
	runs := 5
	if testing.Short() {
		runs = 2
	}
	for run := range runs {
		group := fmt.Sprintf("239.255.80.%d:9797", run+1)
		args := map[int][]string{}
		for i := range 2 {
			args[i] = []string{"mcast", "test", group, "-c", "5", "-i", "0.1", "--wait", "4"}
		}
		res := runHosts(t, lab, bin, args)
		for i := range 2 {
			r := res[i]
			if r.code != 0 || !strings.Contains(r.out, "unicast   : xmt/rcv/%loss = 5/5/0%") ||
				!strings.Contains(r.out, "(discovered)") || strings.Count(r.out, "status    : ok") != 1 {
				t.Errorf("run %d host %d: exit %d\n%s%s", run, i, r.code, r.out, r.err)
			}
		}
		if t.Failed() {
			return
		}
	}
}

// TestCLIMcastDiscoverNoUnicast: host 1 drops every counted unicast probe
// that reaches it (an nft rule on its input: type PROBE, kind unicast,
// seq not 0; hellos pass, so both peers are found and proven). Neither
// side may call that peer ok: host 0's unicast probes were never received
// (5/0/100%), host 1 got the peer's group probes but none of its unicast
// ones. Both say "no unicast" and exit 1.
func TestCLIMcastDiscoverNoUnicast(t *testing.T) {
	lab, bin := mcastLab(t, 2)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft:", err)
	}
	// UDP payload from bit 64 of the transport header: type at byte 3,
	// the seq (low half of the message ID) at byte 12, kind at byte 24.
	rules := "table inet udpkitlab { chain in { type filter hook input priority 0; " +
		"udp dport 9797 @th,88,8 0x20 @th,256,8 2 @th,160,32 != 0 drop; }; }\n"
	cmd := lab.Host(1).Command(t.Context(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	args := map[int][]string{}
	for i := range 2 {
		args[i] = []string{"mcast", "test", "239.255.80.99:9797", "-c", "5", "-i", "0.1", "--wait", "4"}
	}
	res := runHosts(t, lab, bin, args)
	want := map[int]string{0: "unicast   : xmt/rcv/%loss = 5/0/100%", 1: "unicast none"}
	for i := range 2 {
		r := res[i]
		if r.code != cli.ExitFailed || !strings.Contains(r.out, "status    : no unicast") ||
			!strings.Contains(r.out, "0 of 1 peer received the group") || !strings.Contains(r.out, want[i]) {
			t.Errorf("host %d: exit %d, want %d, \"no unicast\" and %q\n%s%s", i, r.code, cli.ExitFailed, want[i], r.out, r.err)
		}
	}
	t.Logf("host 1:\n%s", res[1].out)
}
