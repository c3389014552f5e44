package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/wire"
)

func setupPing(fs *pflag.FlagSet) func(ctx context.Context, io cli.IO, args []string) error {
	count := cliflag.Count(fs, "count", "c", 0, 0, "stop after sending this many probes (0: until Ctrl-C or -w)")
	defaults := client.DefaultPingRunConfig()
	interval := cliflag.Seconds(fs, "interval", "i", defaults.Interval, "seconds between probes (0.2 or 200ms)")
	wait := cliflag.Seconds(fs, "timeout", "W", defaults.Wait, "seconds to wait for the last replies after the last probe (-c)")
	deadline := cliflag.Seconds(fs, "deadline", "w", 0, "stop after this many seconds, whatever happened (0: no deadline)")
	size := cliflag.Int(fs, "size", "s", 56, 0, wire.MaxDatagram-wire.HeaderLen, fmt.Sprintf("payload bytes of each PING, after its %d-byte header, as ping's -s (0 to %d)", wire.HeaderLen, wire.MaxDatagram-wire.HeaderLen))
	quiet := fs.BoolP("quiet", "q", false, "print only the first line and the summary")
	asJSON := cliflag.JSON(fs)
	loadKeys := cliflag.KeyFile(fs)
	return func(ctx context.Context, sio cli.IO, args []string) error {
		keys, _, err := loadKeys()
		switch {
		case err != nil:
			return cli.Usagef("%v", err)
		case len(args) == 0:
			return cli.Usagef("missing HOST:PORT")
		case len(args) > 1:
			if hint := splitPortHint(args); hint != "" && len(args) == 2 {
				return cli.Usagef("too many arguments: want one HOST:PORT, such as %s", hint)
			}
			return cli.Usagef("too many arguments: want one HOST:PORT")
		case *interval < time.Millisecond:
			return cli.Usagef("-i: the interval must be at least 0.001 s")
		case *wait <= 0:
			return cli.Usagef("-W: the wait must be more than 0")
		}
		cfg := client.Config{Keys: keys} // room for -s bytes, however many
		cfg.MaxDatagram = wire.DefaultMaxDatagram + max(0, *size-cfg.MaxPayload())
		c, err := dialServer(ctx, args[0], cfg)
		if err != nil {
			return err
		}
		defer c.Close()

		// udpserver drops a PING larger than its --max-size (default 1472, an
		// Ethernet frame) without answering: it cannot echo one smaller.
		oversized := wire.HeaderLen+*size > wire.DefaultMaxDatagram
		if oversized {
			fmt.Fprintf(sio.Err, "udpcli ping: note: a %d-byte PING is larger than udpserver accepts by default (%d bytes, --max-size) and than one Ethernet frame holds: a server with that limit drops it unanswered\n",
				wire.HeaderLen+*size, wire.DefaultMaxDatagram)
		}
		from := c.RemoteAddr().String()
		enc := json.NewEncoder(sio.Out)
		if !*asJSON {
			fmt.Fprintf(sio.Out, "PING %s (%s) %d bytes of data.\n", args[0], from, *size)
		}
		st, loopErr := c.PingRun(ctx, client.PingRunConfig{Count: *count, Interval: *interval, Wait: *wait,
			Deadline: *deadline, Body: client.PingPadding(*size), Status: sio.StatusRequests(ctx), OnStatus: func(s client.PingStats) {
				fmt.Fprintln(sio.Err, pingStatusLine(s)) // SIGQUIT, SIGUSR1 or SIGINFO, as iputils ping
			}, OnReply: func(seq int, p client.Pong) {
				switch {
				case *quiet:
				case *asJSON:
					enc.Encode(pingRecord(seq, from, p))
				default:
					fmt.Fprintln(sio.Out, pongLine(seq, from, p))
				}
			}})
		if *asJSON {
			enc.Encode(pingSummaryJSON(args[0], from, st))
		} else {
			writePingStats(sio.Out, args[0], st)
		}
		switch {
		case loopErr != nil:
			return cli.Failed(loopErr)
		case st.Received == 0 && oversized:
			return cli.Failed(fmt.Errorf("no reply to %d-byte PINGs: more than the server's default limit of %d bytes (try -s %d or less, or udpserver --max-size)",
				wire.HeaderLen+*size, wire.DefaultMaxDatagram, wire.DefaultMaxDatagram-wire.HeaderLen))
		case st.Received == 0:
			return cli.Failed(nil)
		case *deadline > 0 && *count > 0 && st.Received < *count:
			return cli.Failed(nil)
		}
		return nil
	}
}

// pingRecord is the --json line of a reply ("size": payload bytes, as -s;
// the text line counts the header too).
func pingRecord(seq int, from string, p client.Pong) object {
	switch {
	case errors.Is(p.Err, client.ErrUnreachable):
		return object{"type", "error", "seq", seq, "id", wire.IDString(p.ID), "addr", from, "error", "destination host unreachable"}
	case p.Err != nil:
		return object{"type", "error", "seq", seq, "id", wire.IDString(p.ID), "addr", from, "error", "destination port unreachable"}
	}
	return object{"type", "reply", "seq", seq, "id", wire.IDString(p.ID), "addr", from, "size", omit(max(0, p.Size-wire.HeaderLen)),
		"rtt_ms", msNumber(p.RTT), "duplicate", omit(p.Dup)}
}

// pingSummaryJSON is the --json summary of ping's statistics.
func pingSummaryJSON(host, from string, s client.PingStats) map[string]any {
	sum := map[string]any{
		"type": "summary", "target": host, "addr": from,
		"sent": s.Transmitted, "replies": s.Received, "duplicates": s.Duplicates, "errors": s.Errors,
		"loss_percent": s.Loss(), "elapsed_ms": msNumber(s.Elapsed),
	}
	if len(s.RTTs) > 0 {
		minR, avg, maxR, mdev := s.RTT()
		ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e6*1000) / 1000 } // as ping, to microseconds
		sum["rtt_min_ms"], sum["rtt_avg_ms"], sum["rtt_max_ms"], sum["rtt_mdev_ms"] = ms(minR), ms(avg), ms(maxR), ms(mdev)
	}
	return sum
}

// pongLine is ping's line for p, the reply to PING seq from the server at
// from: "64 bytes from 127.0.0.1:9797: seq=1 time=0.123 ms", with (DUP!)
// after a duplicate, or the ICMP error it got instead.
func pongLine(seq int, from string, p client.Pong) string {
	switch {
	case errors.Is(p.Err, client.ErrUnreachable):
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

// pingStatusLine is the line iputils ping prints on SIGQUIT while it runs:
// "3/4 packets, 25% loss, min/avg/ewma/max = 0.101/0.120/0.115/0.150 ms".
func pingStatusLine(s client.PingStats) string {
	line := fmt.Sprintf("%d/%d packets, %d%% loss", s.Received, s.Transmitted, int(s.Loss()))
	if len(s.RTTs) > 0 {
		minR, avg, maxR, _ := s.RTT()
		line += fmt.Sprintf(", min/avg/ewma/max = %.3f/%.3f/%.3f/%.3f ms", msNumber(minR), float64(avg)/1e6, float64(s.EWMA)/1e6, msNumber(maxR))
	}
	return line
}

// writePingStats writes ping's closing statistics of a run to host:
//
//	--- HOST ping statistics ---
//	4 packets transmitted, 3 received, 25% packet loss, time 3004ms
//	rtt min/avg/max/mdev = 0.101/0.120/0.150/0.020 ms
func writePingStats(w io.Writer, host string, s client.PingStats) {
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
	io.WriteString(w, b.String())
}
