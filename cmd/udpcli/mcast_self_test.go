package main

import (
	"strings"
	"testing"
	"time"
)

// TestCLIMcastTestSameCommandLine: as with omping, the one command line
// that lists every host, itself included, runs on every host: each skips
// its own address, reports the two others and exits 0, without waiting
// the whole --wait for itself.
func TestCLIMcastTestSameCommandLine(t *testing.T) {
	lab, bin := mcastLab(t, 3)
	group := "239.255.78.7:9797"
	line := []string{"mcast", "test", group, "-c", "10", "-i", "0.02", "--wait", "20"}
	for j := range 3 {
		line = append(line, lab.Host(j).IPv4.String())
	}
	args := map[int][]string{}
	for i := range 3 {
		args[i] = line
	}
	start := time.Now()
	res := runHosts(t, lab, bin, args)
	took := time.Since(start)
	for i := range 3 {
		r := res[i]
		if r.code != 0 || !strings.Contains(r.out, "2 peers listed") || !strings.Contains(r.out, "2 of 2 peers received the group") ||
			strings.Contains(r.out, lab.Host(i).IPv4.String()+":9797  multicast") {
			t.Errorf("host %d: exit %d\n%s%s", i, r.code, r.out, r.err)
		}
	}
	if took > 15*time.Second {
		t.Errorf("took %v: a host waited --wait (20 s) for itself", took)
	}
	t.Logf("3 hosts in %v; host 0:\n%s", took.Round(time.Millisecond), res[0].out)
}
