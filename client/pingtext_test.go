package client

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func TestPingText(t *testing.T) {
	us := time.Microsecond
	tests := []struct {
		p    Pong
		want string
	}{
		{Pong{Size: 72, RTT: 123 * us}, "72 bytes from 127.0.0.1:9797: seq=1 time=0.123 ms"},
		{Pong{Size: 72, RTT: 12345 * us, Dup: true}, "72 bytes from 127.0.0.1:9797: seq=1 time=12.3 ms (DUP!)"},
		{Pong{Err: ErrRefused}, "From 127.0.0.1:9797 seq=1 Destination Port Unreachable"},
		{Pong{Err: fmt.Errorf("read: %w", ErrUnreachable)}, "From 127.0.0.1:9797 seq=1 Destination Host Unreachable"},
	}
	for _, tt := range tests {
		if got := tt.p.Text(1, "127.0.0.1:9797"); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

func TestPingStatsText(t *testing.T) {
	us := time.Microsecond
	s := PingStats{Transmitted: 4, Received: 3, Duplicates: 1, Errors: 1, RTTs: []time.Duration{100 * us, 200 * us, 300 * us},
		EWMA: 150 * us, Elapsed: 3004 * time.Millisecond}
	var b bytes.Buffer
	if err := s.WriteText(&b, "localhost:9797"); err != nil {
		t.Fatal(err)
	}
	want := "\n--- localhost:9797 ping statistics ---\n" +
		"4 packets transmitted, 3 received, +1 duplicates, +1 errors, 25% packet loss, time 3004ms\n" +
		"rtt min/avg/max/mdev = 0.100/0.200/0.300/0.082 ms\n"
	if b.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", b.String(), want)
	}
	if got, want := s.StatusLine(), "3/4 packets, 25% loss, min/avg/ewma/max = 0.100/0.200/0.150/0.300 ms"; got != want {
		t.Errorf("StatusLine = %q, want %q", got, want)
	}
	b.Reset()
	PingStats{Transmitted: 2}.WriteText(&b, "h")
	if want := "\n--- h ping statistics ---\n2 packets transmitted, 0 received, 100% packet loss, time 0ms\n"; b.String() != want {
		t.Errorf("no replies: got %q", b.String())
	}
}

func TestPingPadding(t *testing.T) {
	b := PingPadding(300)
	if len(b) != 300 || b[0] != 0 || b[1] != 1 || b[255] != 255 || b[256] != 0 || b[299] != 43 {
		t.Errorf("PingPadding(300) = %v", b)
	}
	if len(PingPadding(0)) != 0 {
		t.Error("PingPadding(0) not empty")
	}
}
