package client

// The text forms of a ping run, as iputils ping prints them: the line of
// each reply, the interim status line and the closing statistics.

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Text is ping's line for p, the reply to PING seq from the server at
// from: "64 bytes from 127.0.0.1:9797: seq=1 time=0.123 ms", with (DUP!)
// after a duplicate, or the ICMP error it got instead.
func (p Pong) Text(seq int, from string) string {
	switch {
	case errors.Is(p.Err, ErrUnreachable):
		return fmt.Sprintf("From %s seq=%d Destination Host Unreachable", from, seq)
	case p.Err != nil:
		return fmt.Sprintf("From %s seq=%d Destination Port Unreachable", from, seq)
	}
	line := fmt.Sprintf("%d bytes from %s: seq=%d time=%s ms", p.Size, from, seq, fmtMs(p.RTT))
	if p.Dup {
		line += " (DUP!)"
	}
	return line
}

// StatusLine is the line iputils ping prints on SIGQUIT while it runs:
// "3/4 packets, 25% loss, min/avg/ewma/max = 0.101/0.120/0.115/0.150 ms".
func (s PingStats) StatusLine() string {
	line := fmt.Sprintf("%d/%d packets, %d%% loss", s.Received, s.Transmitted, int(s.Loss()))
	if len(s.RTTs) > 0 {
		minR, avg, maxR, _ := s.RTT()
		line += fmt.Sprintf(", min/avg/ewma/max = %.3f/%.3f/%.3f/%.3f ms", usMs(minR), float64(avg)/1e6, float64(s.EWMA)/1e6, usMs(maxR))
	}
	return line
}

// WriteText writes ping's closing statistics of a run to host:
//
//	--- HOST ping statistics ---
//	4 packets transmitted, 3 received, 25% packet loss, time 3004ms
//	rtt min/avg/max/mdev = 0.101/0.120/0.150/0.020 ms
func (s PingStats) WriteText(w io.Writer, host string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- %s ping statistics ---\n", host)
	fmt.Fprintf(&b, "%d packets transmitted, %d received", s.Transmitted, s.Received)
	if s.Duplicates > 0 {
		fmt.Fprintf(&b, ", +%d duplicates", s.Duplicates)
	}
	if s.Errors > 0 {
		fmt.Fprintf(&b, ", +%d errors", s.Errors)
	}
	fmt.Fprintf(&b, ", %s%% packet loss, time %dms\n", strconv.FormatFloat(s.Loss(), 'g', 6, 64), s.Elapsed.Milliseconds())
	if len(s.RTTs) > 0 {
		minR, avg, maxR, mdev := s.RTT()
		fmt.Fprintf(&b, "rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", float64(minR)/1e6, float64(avg)/1e6, float64(maxR)/1e6, float64(mdev)/1e6)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fmtMs formats a duration in milliseconds with ping's precision: three
// decimals below 1 ms, two below 10, one below 100, none above.
func fmtMs(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 1:
		return strconv.FormatFloat(ms, 'f', 3, 64)
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64)
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	}
	return strconv.FormatFloat(ms, 'f', 0, 64)
}

// usMs is d in milliseconds, rounded to microseconds.
func usMs(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}
