package main

import (
	"bufio"
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestCLIMcastQuiet: -q leaves out the line per datagram of mcast listen
// and mcast send, and keeps the summary; -w takes a duration.
func TestCLIMcastQuiet(t *testing.T) {
	lab, bin := mcastLab(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const group = "239.255.78.11:5021"
	listen := lab.Host(0).Command(ctx, bin, "mcast", "listen", "-q", "-c", "2", "-w", "10s", group)
	var lout bytes.Buffer
	listen.Stdout = &lout
	stderr, _ := listen.StderrPipe()
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stderr)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "joined ") {
		t.Fatalf("listen: %q %v", line, err)
	}
	send := lab.Host(1).Command(ctx, bin, "mcast", "send", "-q", "-c", "2", "-i", "50ms", group, "hi")
	var sout bytes.Buffer
	send.Stdout = &sout
	if err := send.Run(); err != nil || sout.Len() != 0 {
		t.Errorf("send -q: %v, stdout %q", err, sout.String())
	}
	rest, _ := bufio.NewReader(r).ReadString(0)
	if err := listen.Wait(); err != nil || lout.Len() != 0 || !strings.Contains(rest, "2 datagrams received") {
		t.Errorf("listen -q: %v, stdout %q, stderr %q", err, lout.String(), rest)
	}
}
