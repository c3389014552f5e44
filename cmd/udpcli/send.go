package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/wire"
)

func setupSend(fs *pflag.FlagSet) func(ctx context.Context, io cli.IO, args []string) error {
	retries := cliflag.Count(fs, "retries", "", client.DefaultRetries, 0, "retransmissions of each datagram after the first send (0: none); with --service, across all servers")
	timeout := cliflag.Seconds(fs, "timeout", "W", client.DefaultInitialTimeout, "first retransmission timeout, as ping's -W: seconds (0.5) or a duration (200ms)")
	window := cliflag.Int(fs, "window", "", client.DefaultWindow, 1, client.MaxWindow, "datagrams in flight at most (1 to 1024), for lines from stdin")
	asJSON := cliflag.JSON(fs)
	quiet := fs.BoolP("quiet", "q", false, "print only the summary")
	file := fs.StringP("file", "f", "", "send the whole of `FILE` (\"-\": standard input) as one datagram, bytes unchanged, instead of lines")
	var service serviceOptions // --service: discover the servers, fail over between them
	service.register(fs)
	loadKeys := cliflag.KeyFile(fs)
	// The letters of earlier releases, for scripts: -t is now -W (ping's
	// per-reply timeout), and -w, ping's deadline, is --window here.
	cliflag.Alias(fs, "timeout", "t")
	cliflag.Alias(fs, "window", "w")
	return func(ctx context.Context, sio cli.IO, args []string) error {
		keys, _, err := loadKeys()
		if err != nil {
			return cli.Usagef("%v", err)
		}
		if service.name != "" {
			if len(args) > 0 {
				if _, err := netip.ParseAddrPort(args[0]); err == nil {
					return cli.Usagef("give either HOST:PORT or --service, not both (%s would be sent as the message)", args[0])
				}
			}
			// No HOST:PORT: the servers are discovered.
			args = append([]string{""}, args...)
		}
		switch {
		case len(args) == 0:
			return cli.Usagef("missing HOST:PORT")
		case len(args) > 2 && service.name != "":
			return cli.Usagef("too many arguments: with --service, give at most MESSAGE (quoted), or send lines on stdin")
		case len(args) > 1 && service.name == "" && splitPortHint(args) != "":
			return cli.Usagef("%q has no port and %q looks like one: did you mean %s?", args[0], args[1], splitPortHint(args))
		case len(args) > 2:
			return cli.Usagef("too many arguments: quote the message (udpcli send HOST:PORT \"hello world\") or send lines on stdin")
		case *timeout <= 0:
			return cli.Usagef("--timeout must be more than 0")
		case *file != "" && len(args) == 2:
			return cli.Usagef("give either MESSAGE or --file, not both")
		}
		cfg := client.Config{InitialTimeout: *timeout, Retries: noneIfZero(*retries), Window: *window, Keys: keys}
		maxPayload := cfg.MaxPayload()
		var payloads iter.Seq[[]byte]
		var lines *client.Lines // nil unless the lines of stdin are sent
		switch {
		case *file != "":
			whole, err := readWhole(sio.In, *file, maxPayload)
			if err != nil {
				return cli.Usagef("--file %s: %v", *file, err)
			}
			payloads = slices.Values([][]byte{whole})
		case len(args) == 2 && args[1] != "-":
			payloads = slices.Values([][]byte{[]byte(args[1])})
		default:
			lines = client.NewLines(sio.In, maxPayload)
			payloads = lines.All
		}

		var tally client.SendTally
		timedOut := 0
		enc := json.NewEncoder(sio.Out)
		report := func(i int, r client.ServiceResult, err error) {
			seq := i + 1
			if tally.Add(r.Result, err) == client.TimedOut {
				timedOut++
			}
			if errors.Is(err, client.ErrTooLarge) {
				if n, ok := lines.TooLong(seq); ok {
					err = fmt.Errorf("line %d is %d bytes; a datagram holds at most %d bytes of payload", seq, n, maxPayload)
				} else {
					err = fmt.Errorf("message is %d bytes; a datagram holds at most %d bytes of payload", len(args[len(args)-1]), maxPayload)
				}
			}
			switch {
			case *quiet:
			case *asJSON:
				enc.Encode(sendRecordOf(seq, r, err))
			default:
				fmt.Fprintf(sio.Out, "%d: %s\n", seq, sendText(r, err))
			}
		}

		var runErr error
		var ignored client.Stats // replies dropped for their authentication (one server only)
		if service.name != "" {
			sc, err := dialService(ctx, sio, service, cfg)
			if err != nil {
				return err
			}
			defer sc.Close()
			runErr = sc.SendAll(ctx, payloads, report)
		} else {
			c, err := dialServer(ctx, args[0], cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			runErr = c.SendAll(ctx, payloads, func(i int, r client.Result, err error) { report(i, client.ServiceResult{Result: r}, err) })
			ignored = c.Stats()
		}
		if lines.Err() != nil && runErr == nil {
			runErr = lines.Err()
		}
		if lines != nil && tally.Total == 0 && runErr == nil && ctx.Err() == nil {
			// Nothing to send is a mistake, not a success: a script whose
			// input came out empty must notice.
			return cli.Usagef("no message: stdin was empty (give MESSAGE, --file, or lines on stdin)")
		}
		unit := "message"
		if lines != nil {
			unit = "line"
		}
		fmt.Fprintln(sio.Err, sendSummary(&tally, unit))
		if h := busyHint(tally.BusyReasons); h != "" {
			fmt.Fprintln(sio.Err, h)
		}
		if h := authHint(keys != nil, tally.Acked == 0 && timedOut > 0, ignored); h != "" {
			fmt.Fprintln(sio.Err, h)
		}
		switch outcome := client.OutcomeOf(runErr); {
		case outcome == client.Refused:
			if lines != nil {
				runErr = fmt.Errorf("%w; the rest of the input was not sent", runErr)
			}
			return cli.Failed(runErr)
		case outcome == client.Interrupted:
			return cli.Failed(errors.New("interrupted"))
		case runErr != nil:
			return &cli.ExitError{Code: cli.ExitUsage, Err: runErr}
		case tally.TooLarge > 0:
			return &cli.ExitError{Code: cli.ExitUsage}
		case tally.Failed > 0:
			return cli.Failed(nil)
		}
		return nil
	}
}

// sendRecordOf is the --json line of message seq.
func sendRecordOf(seq int, r client.ServiceResult, err error) object {
	outcome := client.OutcomeOf(err)
	rtt, code, reason, text := any(omitted{}), any(omitted{}), any(omitted{}), ""
	switch outcome {
	case client.Acked:
		rtt = msNumber(r.RTT)
	case client.Rejected:
		var re *client.RejectedError
		errors.As(err, &re)
		rtt, code, reason, text = msNumber(r.RTT), int(re.Code), re.PrintableReason(), err.Error()
	case client.Interrupted:
	default:
		text = err.Error()
	}
	var addr string // --service: the server's name, address and failovers
	var failovers int
	if r.Server != "" {
		addr, failovers = r.Addr.String(), r.Failovers
	}
	return object{"seq", seq, "id", wire.IDString(r.ID), "status", outcome.String(), "attempts", r.Attempts, "rtt_ms", rtt,
		"elapsed_ms", msNumber(r.Elapsed), "code", code, "reason", reason, "error", omit(text), "busy", omit(r.Busy),
		"rate_limited", omit(r.RateLimited), "server", omit(r.Server), "addr", omit(addr), "failovers", omit(failovers)}
}

// readWhole reads all of name ("-": in) if it fits in one datagram of max
// payload bytes.
func readWhole(in io.Reader, name string, max int) ([]byte, error) {
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	return client.ReadDatagram(in, max)
}

// sendText is the line of a message: "acked in 0.21 ms (1 attempt)",
// "acked by NAME in ... after 1 failover" with --service, "timed out after
// 4 attempts (3.1 s)", "rejected (rejected): not for me", "failed: ..."
// for a NACK busy or rate limited that outlasted the retries, and so on.
func sendText(r client.ServiceResult, err error) string {
	by := "" // "by SERVER " with --service
	if r.Server != "" {
		by = "by " + r.Server + " "
	}
	switch client.OutcomeOf(err) {
	case client.Acked:
		// The time until the ACK; after retransmissions that is not the
		// round trip, which then follows in brackets.
		text := fmt.Sprintf("acked %sin %s ms (%s", by, fmtMs(r.Elapsed), plural(r.Attempts, "attempt"))
		if r.Attempts != 1 {
			if r.Busy > 0 || r.RateLimited > 0 {
				text += ", " + nackCounts(r.Result)
			}
			text += ", last round trip " + fmtMs(r.RTT) + " ms"
		}
		text += ")"
		if r.Server != "" && r.Failovers > 0 {
			text += " after " + plural(r.Failovers, "failover")
		}
		return text
	case client.Rejected:
		var re *client.RejectedError
		errors.As(err, &re)
		reason := re.PrintableReason()
		if x := re.Explain(); x != "" {
			// Not a refusal for good: the server said "not now" until the
			// retries ran out.
			text := "failed: " + x
			if reason != "" {
				text += " [" + reason + "]"
			}
			return text
		}
		text := fmt.Sprintf("rejected (%v)", re.Code)
		if reason != "" {
			text += ": " + reason
		}
		return text
	case client.Refused:
		return "refused: " + err.Error()
	case client.Interrupted:
		// Ctrl-C with the answer outstanding: not the network's verdict.
		return "interrupted"
	case client.TimedOut:
		text := fmt.Sprintf("timed out after %s (%.1f s)", plural(r.Attempts, "attempt"), r.Elapsed.Seconds())
		if r.Busy > 0 || r.RateLimited > 0 {
			text += " after " + nackCounts(r.Result)
		}
		return text
	}
	return "error: " + err.Error()
}

// nackCounts says how many NACK busy and rate limited a message had
// retried: "2 NACK busy, 1 NACK rate limited".
func nackCounts(r client.Result) string {
	var parts []string
	if r.Busy > 0 {
		parts = append(parts, fmt.Sprintf("%d NACK busy", r.Busy))
	}
	if r.RateLimited > 0 {
		parts = append(parts, fmt.Sprintf("%d NACK rate limited", r.RateLimited))
	}
	return strings.Join(parts, ", ")
}

// sendSummary is the line on stderr after a send whose messages are called
// unit ("line" or "message"): "4 lines: 2 acknowledged, 2 failed (2 too
// long, not sent); 3 NACK busy retried". Messages too large for a datagram
// count as failed, but were never sent, so the summary does not call them
// sent.
func sendSummary(t *client.SendTally, unit string) string {
	s := fmt.Sprintf("%s: %d acknowledged, %d failed", plural(t.Total, unit), t.Acked, t.Failed)
	if t.TooLarge > 0 {
		s += fmt.Sprintf(" (%d too long, not sent)", t.TooLarge)
	}
	if t.Busy > 0 {
		s += fmt.Sprintf("; %d NACK busy retried", t.Busy)
	}
	if t.RateLimited > 0 {
		s += fmt.Sprintf("; %d NACK rate limited retried", t.RateLimited)
	}
	return s
}

// busyHint is the line on stderr after a send where messages failed on
// NACK busy (byReason: how many, by the NACK's text), saying why and what
// to do; "" when none did. A NACK's text only fits in the reply to a
// request at least as long (PROTOCOL.md), so short lines get the code
// alone and the hint names the likely causes.
func busyHint(byReason map[string]int) string {
	n := 0
	for _, k := range byReason {
		n += k
	}
	lines := plural(n, "line")
	switch {
	case n == 0:
		return ""
	case byReason[wire.ReasonSenderShareFull] > 0:
		return "hint: " + lines + " failed on NACK busy: the server's per-sender exactly-once share is full (udpserver takes 16384 new messages per 120 s from one address and port at its defaults): send fewer per 2 minutes from one socket, or raise udpserver --dedup-per-source (and --dedup-per-host)"
	case byReason[wire.ReasonNotStored] > 0:
		return "hint: " + lines + " failed on NACK busy: the server's storage did not confirm them (udpserver --forward: the NATS JetStream broker is down or unreachable, or the stream is full); check the broker and the stream (nats stream info), retry later or send to another server"
	case byReason[""] == n:
		return "hint: " + lines + " failed on NACK busy without a reason (a reply to a short line has no room for one): either the server's storage did not confirm them (udpserver --forward: the broker is down or the stream is full; check nats stream info), or this sender's exactly-once share is full (udpserver takes 16384 new messages per 120 s from one address and port at its defaults: send fewer per 2 minutes from one socket, or raise --dedup-per-source and --dedup-per-host); a --forward server logs what it could not store"
	case byReason[wire.ReasonHostShareFull] > 0:
		return "hint: " + lines + " failed on NACK busy: the server's per-host exactly-once share is full (65536 new messages per 120 s from one IP at its defaults): slow down, or raise udpserver --dedup-per-host"
	case byReason[wire.ReasonTableFull] > 0:
		return "hint: " + lines + " failed on NACK busy: the server's exactly-once table is full (all senders): retry later, or raise udpserver --dedup-entries"
	}
	return "hint: " + lines + " failed on NACK busy (the server was overloaded or its storage did not confirm): retry later or send to another server"
}

// serviceOptions are send's --service flags: discover the servers of a
// service and fail over between them.
type serviceOptions struct {
	name   string
	ifaces []string
	wait   *time.Duration
	count  int
}

func (o *serviceOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.name, "service", "", "send to the servers of `SERVICE` (such as _udpkit._udp) found on the LAN instead of HOST:PORT, failing over between them")
	cliflag.Interfaces(fs, &o.ifaces)           // with --service: where to browse
	cliflag.AliasName(fs, "iface", "interface") // its first name, kept for scripts
	o.wait = cliflag.Seconds(fs, "discover-time", "", client.DefaultDiscoverTime, "with --service: how long to look for servers, in seconds (1) or a duration (500ms)")
	fs.IntVar(&o.count, "servers", 0, "with --service: stop looking once `N` servers were found (0: look for --discover-time)")
}

// authHint explains a send that timed out (silent) when replies were
// ignored for their authentication, or none came while the client had keys;
// "" otherwise.
func authHint(keyed, silent bool, st client.Stats) string {
	ignored := st.Unauthenticated + st.BadAuth
	replies := fmt.Sprintf("%d replies", ignored)
	if ignored == 1 {
		replies = "1 reply"
	}
	switch {
	case !silent:
		return ""
	case ignored > 0 && keyed:
		return "hint: " + replies + " came but failed authentication with this key, so none counted: the server answering holds no key or another one (or is not the server: a forger); give udpserver --key-file with the same key ID and secret"
	case ignored > 0:
		return "hint: " + replies + " came authenticated, so none counted: the server holds a key; give the same key with --key-file (or UDPKIT_KEY_FILE)"
	case keyed:
		// An unkeyed server drops authenticated DATA: silence.
		return "hint: no reply came; with --key-file the server must hold this key (udpserver --key-file with the same key ID and secret): a server without it, or with another, ignores every message"
	}
	return ""
}

// dialService finds the servers and says which on stderr.
func dialService(ctx context.Context, sio cli.IO, o serviceOptions, cfg client.Config) (*client.ServiceClient, error) {
	if err := wire.ValidateService(o.name); err != nil {
		return nil, cli.Usagef("--service %q: %v", o.name, err)
	}
	if *o.wait <= 0 || o.count < 0 {
		return nil, cli.Usagef("--discover-time must be more than 0 and --servers 0 or more")
	}
	sc, err := client.DialService(ctx, o.name, client.ServiceConfig{Client: cfg, Interfaces: o.ifaces, DiscoverTime: *o.wait, Servers: o.count})
	switch {
	case errors.Is(err, context.Canceled):
		return nil, cli.Failed(errors.New("interrupted"))
	case errors.Is(err, discovery.ErrNoInterface), errors.Is(err, wire.ErrInvalidName):
		return nil, cli.Usagef("%v", err)
	case err != nil:
		return nil, cli.Failed(err)
	}
	var names []string
	for _, in := range sc.Servers() {
		names = append(names, in.Instance)
	}
	fmt.Fprintf(sio.Err, "%s servers: %s\n", o.name, strings.Join(names, ", "))
	return sc, nil
}
