package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/cliflag"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/wire"
)

func init() {
	app.Register(&cli.Command{
		Name:    "bench",
		Summary: "measure a server's acknowledgement rate and latency under load",
		Usage:   helpText("bench"),
		Setup:   setupBench,
		Status:  true,
	})
}

type benchResult struct {
	Target    string  `json:"addr"`
	Kind      string  `json:"kind"`
	InFlight  int     `json:"inflight"` // per socket
	Conns     int     `json:"conns"`    // sockets, each its own closed loop
	Size      int     `json:"size"`     // payload bytes per request, as -s
	ElapsedMs float64 `json:"elapsed_ms"`
	Sent      int     `json:"sent"`
	Replies   int     `json:"replies"`
	Lost      int     `json:"lost"`
	Nacks     int     `json:"nacks"`
	Limited   int     `json:"rate_limited"`
	PerSecond float64 `json:"replies_per_second"`
	P50       float64 `json:"rtt_p50_ms"` // round trips in milliseconds, as every --json
	P90       float64 `json:"rtt_p90_ms"`
	P99       float64 `json:"rtt_p99_ms"`
	Max       float64 `json:"rtt_max_ms"`
	Mean      float64 `json:"rtt_avg_ms"` // as ping's
}

// toBenchResult is the command's form of a result: milliseconds as
// floats, as in every --json.
func toBenchResult(b client.BenchResult) benchResult {
	r := benchResult{Kind: b.Kind.String(), InFlight: b.InFlight, Conns: b.Conns, Size: b.Size - wire.HeaderLen, ElapsedMs: msNumber(b.Elapsed),
		Sent: b.Sent, Replies: b.Replies, Lost: b.Lost, Nacks: b.Nacks, Limited: b.RateLimited, PerSecond: b.PerSecond()}
	if b.Replies > 0 {
		r.P50, r.P90, r.P99, r.Max, r.Mean = msNumber(b.RTTP50), msNumber(b.RTTP90), msNumber(b.RTTP99), msNumber(b.RTTMax), msNumber(b.RTTMean)
	}
	return r
}

func setupBench(fs *pflag.FlagSet) func(context.Context, cli.IO, []string) error {
	duration := cliflag.Seconds(fs, "duration", "d", 5*time.Second, "how long to load the server")
	inflight := cliflag.Int(fs, "inflight", "", 1, 1, 4096, "requests outstanding at once on each socket (1 to 4096)")
	nconns := cliflag.Int(fs, "conns", "", 1, 1, 256, "client sockets, each its own source port and closed loop (1 to 256)")
	size := cliflag.DatagramSize(fs, client.DefaultBenchSize-wire.HeaderLen, wire.HeaderLen, wire.DefaultMaxDatagram)
	ping := fs.Bool("ping", false, "send PINGs (no handler, no de-duplication) instead of DATA")
	timeout := cliflag.Seconds(fs, "timeout", "W", 500*time.Millisecond, "a request unanswered this long counts as lost")
	asJSON := cliflag.JSON(fs)
	loadKeys := cliflag.KeyFile(fs)
	return func(ctx context.Context, io cli.IO, args []string) error {
		keys, _, err := loadKeys()
		if err != nil {
			return cli.Usagef("%v", err)
		}
		if len(args) != 1 {
			if hint := splitPortHint(args); hint != "" && len(args) == 2 {
				return cli.Usagef("want exactly one HOST:PORT, such as %s", hint)
			}
			return cli.Usagef("want exactly one HOST:PORT, got %d arguments", len(args))
		}
		whole, err := size()
		if err != nil {
			return cli.Usagef("%v", err)
		}
		if *duration <= 0 || *timeout <= 0 {
			return cli.Usagef("--duration and --timeout must be positive")
		}
		// The one address parser of udpcli (client.Resolve, as send and
		// ping through Dial): same errors, same hints, same exit statuses.
		if err := unicastOnly(args[0]); err != nil {
			return err
		}
		if whole-wire.HeaderLen > (client.Config{Keys: keys}).MaxPayload() { // with keys only: whole fits otherwise
			return cli.Usagef("request of %d bytes plus the %d-byte authentication trailer: over %d bytes", whole, wire.AuthTrailerLen, wire.DefaultMaxDatagram)
		}
		conns, err := client.DialConns(ctx, args[0], *nconns)
		if err != nil {
			return dialError(err)
		}
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		// SIGUSR1 (as dd), SIGQUIT or SIGINFO: the counts so far on stderr.
		status := io.StatusRequests(ctx)
		br, err := client.BenchAll(ctx, conns, client.BenchConfig{Ping: *ping, InFlight: *inflight, Size: whole,
			Duration: *duration, Timeout: *timeout, Keys: keys, Status: status, OnStatus: func(r client.BenchResult) {
				fmt.Fprintln(io.Err, benchStatusLine(r))
			}})
		r := toBenchResult(br)
		if err != nil {
			return cli.Failed(err)
		}
		r.Target = conns[0].RemoteAddr().String()
		if *asJSON {
			if err := json.NewEncoder(io.Out).Encode(r); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(io.Out, "BENCH %s: %s, %d data bytes, %d in flight on each of %d sockets, %.1f s\n", r.Target, r.Kind, r.Size, r.InFlight, r.Conns, r.ElapsedMs/1000)
			fmt.Fprintf(io.Out, "%d sent, %d replies, %d lost, %d nacks\n", r.Sent, r.Replies, r.Lost, r.Nacks)
			fmt.Fprintf(io.Out, "%.0f replies/s\n", r.PerSecond)
			fmt.Fprintf(io.Out, "rtt p50/p90/p99/max = %.1f/%.1f/%.1f/%.1f µs, mean %.1f µs\n", r.P50*1000, r.P90*1000, r.P99*1000, r.Max*1000, r.Mean*1000)
		}
		for _, w := range benchWarnings(br) {
			fmt.Fprintf(io.Err, "udpcli bench: %s\n", w)
		}
		if r.Replies == 0 {
			return cli.Failed(errors.New("no reply came"))
		}
		return nil
	}
}

// benchStatusLine is the interim line on a status signal (as dd on
// SIGUSR1): "1200 sent, 1190 replies, 2 lost, 0 nacks in 1.0 s: 1190
// replies/s so far".
func benchStatusLine(r client.BenchResult) string {
	return fmt.Sprintf("%d sent, %d replies, %d lost, %d nacks in %.1f s: %.0f replies/s so far",
		r.Sent, r.Replies, r.Lost, r.Nacks, r.Elapsed.Seconds(), float64(r.Replies)/r.Elapsed.Seconds())
}

// benchWarnings explain the figures of a run that measured something other
// than the server's capacity (its rate limit, its de-duplication table, or
// replies dropped for their authentication) and the udpserver flags that
// measure it; none for a clean run.
func benchWarnings(r client.BenchResult) []string {
	var w []string
	if r.RateLimited > 0 {
		w = append(w, fmt.Sprintf("the server rate-limited this host (%d NACKs \"rate limited\", and the datagrams over the limit were dropped): "+
			"run the server with --rate-limit 0 to measure it", r.RateLimited))
	}
	if busy := r.Nacks - r.RateLimited; busy > 0 && r.Kind == wire.TypeData {
		// Each request carries a fresh ID from one socket: past the
		// server's share per sender (16384 by default) it answers NACK
		// busy, which measures the table, not the server.
		w = append(w, fmt.Sprintf("%d requests got a NACK (busy, most likely: the server remembers at most --dedup-per-source message IDs of one sender for --dedup-window): "+
			"run the server with --dedup-window 0.2 --dedup-per-source 262144 --dedup-per-host 262144 to measure it, or bench --ping", busy))
	}
	if r.Unauthenticated+r.BadAuth > 0 {
		w = append(w, fmt.Sprintf("ignored %d unauthenticated and %d wrongly authenticated replies (does the server have the same key file, or none when bench has none?)",
			r.Unauthenticated, r.BadAuth))
	}
	return w
}
