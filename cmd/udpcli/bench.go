package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/wire"
)

func setupBench(fs *pflag.FlagSet) func(context.Context, cli.IO, []string) error {
	duration := cliflag.Seconds(fs, "duration", "d", client.DefaultBenchDuration, "how long to load the server")
	inflight := cliflag.Int(fs, "inflight", "", client.DefaultBenchInFlight, 1, 4096, "requests outstanding at once on each socket (1 to 4096)")
	nconns := cliflag.Int(fs, "conns", "", 1, 1, 256, "client sockets, each its own source port and closed loop (1 to 256)")
	size := cliflag.DatagramSize(fs, client.DefaultBenchSize-wire.HeaderLen, wire.HeaderLen, wire.DefaultMaxDatagram)
	ping := fs.Bool("ping", false, "send PINGs (no handler, no de-duplication) instead of DATA")
	timeout := cliflag.Seconds(fs, "timeout", "W", client.DefaultBenchTimeout, "a request unanswered this long counts as lost")
	asJSON := cliflag.JSON(fs)
	loadKeys := cliflag.KeyFile(fs)
	return func(ctx context.Context, io cli.IO, args []string) error {
		keys, _, err := loadKeys()
		switch {
		case err != nil:
			return cli.Usagef("%v", err)
		case len(args) == 2 && splitPortHint(args) != "":
			return cli.Usagef("want exactly one HOST:PORT, such as %s", splitPortHint(args))
		case len(args) != 1:
			return cli.Usagef("want exactly one HOST:PORT, got %d arguments", len(args))
		}
		whole, err := size()
		switch {
		case err != nil:
			return cli.Usagef("%v", err)
		case *duration <= 0 || *timeout <= 0:
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
		br, err := client.BenchAll(ctx, conns, client.BenchConfig{Ping: *ping, InFlight: *inflight, Size: whole,
			Duration: *duration, Timeout: *timeout, Keys: keys, Status: io.StatusRequests(ctx), OnStatus: func(r client.BenchResult) {
				fmt.Fprintln(io.Err, benchStatusLine(r)) // SIGUSR1 (as dd), SIGQUIT or SIGINFO: the counts so far
			}})
		if err != nil {
			return cli.Failed(err)
		}
		target, size := conns[0].RemoteAddr().String(), br.Size-wire.HeaderLen
		p50, p90, p99, maxRTT, mean := msNumber(br.RTTP50), msNumber(br.RTTP90), msNumber(br.RTTP99), msNumber(br.RTTMax), msNumber(br.RTTMean)
		if *asJSON {
			// size: payload bytes per request, as -s; inflight per socket;
			// round trips in milliseconds, as every --json (avg as ping's).
			json.NewEncoder(io.Out).Encode(object{"addr", target, "kind", br.Kind.String(), "inflight", br.InFlight, "conns", br.Conns,
				"size", size, "elapsed_ms", msNumber(br.Elapsed), "sent", br.Sent, "replies", br.Replies, "lost", br.Lost, "nacks", br.Nacks,
				"rate_limited", br.RateLimited, "replies_per_second", br.PerSecond(),
				"rtt_p50_ms", p50, "rtt_p90_ms", p90, "rtt_p99_ms", p99, "rtt_max_ms", maxRTT, "rtt_avg_ms", mean})
		} else {
			fmt.Fprintf(io.Out, "BENCH %s: %s, %d data bytes, %d in flight on each of %d sockets, %.1f s\n", target, br.Kind, size, br.InFlight, br.Conns, msNumber(br.Elapsed)/1000)
			fmt.Fprintf(io.Out, "%d sent, %d replies, %d lost, %d nacks\n", br.Sent, br.Replies, br.Lost, br.Nacks)
			fmt.Fprintf(io.Out, "%.0f replies/s\n", br.PerSecond())
			fmt.Fprintf(io.Out, "rtt p50/p90/p99/max = %.1f/%.1f/%.1f/%.1f µs, mean %.1f µs\n", p50*1000, p90*1000, p99*1000, maxRTT*1000, mean*1000)
		}
		for _, w := range benchWarnings(br) {
			fmt.Fprintf(io.Err, "udpcli bench: %s\n", w)
		}
		if br.Replies == 0 {
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
