// Command udpserver receives udpkit messages (and plain text datagrams) over
// UDP, writes each accepted message as one JSON line to stdout, and
// acknowledges it only after the line is written.
//
// Run "udpserver --help" for flags and examples.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/internal/netaddr"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/errwriter"
	"github.com/udpkit/udpkit/internal/manpage"
	"github.com/udpkit/udpkit/internal/version"

	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"
)

// Exit statuses.
const (
	exitOK     = 0 // stopped by a signal after serving
	exitFailed = 1 // a socket could not be opened or failed while serving
	exitUsage  = 2 // bad flags or arguments
)

const usage = `udpserver receives udpkit messages over UDP and acknowledges them.

Usage:
  udpserver [flags]

Every accepted message (a DATA message, or a plain text datagram from nc or a
script) is written to stdout as one JSON line, and only then acknowledged:
an ACK means the line was written. Retransmissions of a message are answered
again without a second line; PINGs are answered and not written. Logs go to
stderr; the first lines name the addresses actually bound (useful with port 0).

  {"time":"2025-01-02T15:04:05.123456789Z","from":"192.168.1.20:50123",
   "to":"192.168.1.5:9797","id":"0000000000000011","raw":false,"size":5,"text":"hello"}

"to" is the address the message was sent to, when known; "text" holds the
payload when it is valid UTF-8, "base64" otherwise. If stdout fails (a
closed pipe, a full disk), the message gets a NACK "busy" and the server
stops with status 1: it never acknowledges what it could not record.

Listening: --listen may be given several times. Without it udpserver listens
on 0.0.0.0:9797 and [::]:9797, two sockets (the IPv6 one IPv6-only), and goes
on with IPv4 alone, with a warning, where the machine has no IPv6. A listen
address with an empty host (":9797") means the same pair of sockets.
On a wildcard address every reply leaves from the address its request was
sent to; bind a specific address to serve one interface only.

Authentication: with --key-file FILE (or $UDPKIT_KEY_FILE, or the key file
text in $UDPKIT_KEY; 'udpcli keygen' makes one) the server verifies every
datagram before anything else and drops, unanswered, whatever is not
authenticated with one of its keys, fresh and not replayed, raw text
included; its replies are sealed with the request's key (PROTOCOL.md 5,
SECURITY.md). Payloads are not encrypted.

Signals: SIGINT, SIGTERM and SIGHUP (a closed terminal or SSH session) stop
the server gracefully: goodbye on the LAN, running handlers finish (within
--shutdown-timeout), exit 0. udpserver has no configuration file, so SIGHUP
reloads nothing.

Discovery: the server announces itself on the LAN (UDP port 9798: directed
broadcast, 239.255.97.97 and ff02::9797) on every selected interface, with
only its addresses on that interface, answers 'udpcli discover', and says
goodbye when it stops. Bound to specific addresses, it announces only on
their interfaces; bound to loopback only, nowhere. --no-announce turns it off.

mDNS / DNS-SD: with --mdns the server is also published as
INSTANCE._udpkit._udp.local (--mdns-service sets the type) on UDP 5353,
shared with Avahi or any other responder: PTR, SRV, TXT (the --attr pairs
and udpkit=VERSION) and each interface's A/AAAA records, after probing the
names (a taken name becomes "name (2)"); goodbyes on shutdown. avahi-browse,
dns-sd and zeroconf libraries see it; 'udpcli discover --mdns' browses it.

Storing: with --forward nats://HOST:PORT every message is published to a NATS
JetStream stream instead of stdout (subject --forward-subject, default
udpkit.<instance>; headers Nats-Msg-Id, Udpkit-Source, Udpkit-Destination,
Udpkit-Received, Udpkit-Kind, Udpkit-Message-Id, Udpkit-Instance) and
acknowledged only when the stream confirmed it; a message the stream does
not confirm within --forward-timeout gets NACK "busy", so the device tries
again, here or at another server. Nats-Msg-Id is the sender's address and
port and the message ID, so the stream's duplicate window (2 minutes, as
long as a device retransmits) stores a retransmission once, whichever
server it reached. udpserver exits with status 1 at start when the broker is
unreachable or no stream stores the subject (--forward-create makes one).

Examples:
  udpserver                                  # 0.0.0.0:9797 and [::]:9797
  udpserver --forward nats://127.0.0.1:4222 --forward-create
  udpserver --forward nats://n1:4222,nats://n2:4222 --forward-subject 'sensors.{instance}.{source}'
  udpserver --listen 127.0.0.1:9797 --listen [::1]:9797
  udpserver --listen 192.168.1.5:9797 --no-raw
  udpserver --instance kitchen --attr room=kitchen --attr fw=1.2
  udpserver -I eth0 --announce-ttl 30s       # announce on eth0 only
  udpserver --instance kitchen --mdns        # also visible to avahi-browse -r _udpkit._udp
  udpserver --quiet --log-level debug        # answer, print nothing
  udpserver --key-file /etc/udpkit/lan.key   # authenticated messages only (SECURITY.md)
  udpserver --metrics 127.0.0.1:9799         # Prometheus: curl 127.0.0.1:9799/metrics
  udpserver | jq -r .text                    # just the messages
  echo hello | nc -u -w1 localhost 9797      # prints "ack" (raw mode)

Flags:
`

// options are the parsed command line.
type options struct {
	listen          []string
	quiet           bool
	noRaw           bool
	maxSize         int
	logLevel        slog.Level
	logFormat       string
	shutdownTimeout time.Duration
	announce        announceOptions
	version         bool
	batch           int     // udpserver.Server.BatchSize
	sockets         int     // udpserver.Server.Sockets
	spreadByTuple   bool    // udpserver.Server.SpreadByTuple
	noQuarantine    bool    // udpserver.Server.DisableQuarantine
	spreadMul       uint    // udpserver.Server.SpreadMultiplier
	noCookies       bool    // udpserver.Server.DisableCookies
	cookieRate      float64 // udpserver.Server.CookieRate
	rateLimit       float64 // udpserver.Server.RateLimit, datagrams/s per source IP
	rateBurst       int     // udpserver.Server.RateBurst; 0 (not given): it follows rateLimit
	forward         forwardOptions
	metrics         string // --metrics ADDR: Prometheus endpoint
	man             bool   // --man: print the manual page
	flags           *pflag.FlagSet
	dedup           dedupOptions
	keys            *auth.Keyring // --key-file, $UDPKIT_KEY_FILE, $UDPKIT_KEY; nil: no authentication
	keySource       string
}

// dedupOptions are the de-duplication table's limits (udpserver.Server
// fields of the same names); 0 means the library's default.
type dedupOptions struct {
	entries, perSource, perHost int
	window                      time.Duration
}

func main() {
	// SIGHUP stops it too: a server started from an SSH session that
	// closes must say goodbye, not linger as a ghost in 'udpcli watch'
	// for a whole TTL. There is no configuration file to reload.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// A closed stdout (udpserver | head -1) is an error the handler sees and
	// reports, not a silent death by SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	softMemoryLimit = true
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// softMemoryLimit makes run set the Go runtime's soft memory limit from
// the de-duplication table's size unless $GOMEMLIMIT is set; only the real
// command does (the limit is the whole process's).
var softMemoryLimit bool

// memoryHeadroom is what the soft memory limit allows above the full
// de-duplication table: the rate-limit table (~2.5 MiB), the table's last
// doubling in flight, buffers and the runtime's own.
const memoryHeadroom = 16 << 20

// setMemoryLimit sets the soft limit to the table's full size plus
// memoryHeadroom. At the default GOGC the heap may grow to twice what is
// live, so a server whose table has filled (30 MiB at the defaults) would
// sit at ~70 MiB RSS; with the limit the collector runs earlier instead
// (the table has no pointers, so a collection is cheap) and the RSS stays
// near 50 MiB (BENCHMARKS.md). It is soft: the heap may pass it, with the
// collector then limited to half the CPU, never an out-of-memory error.
func setMemoryLimit(entries int) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	if entries <= 0 {
		entries = udpserver.DefaultDedupEntries
	}
	limit := int64(entries)*udpserver.DedupBytesPerEntry + memoryHeadroom
	debug.SetMemoryLimit(limit)
	return limit
}

// run is udpserver: it serves until ctx is done and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// --help, --version and --man fail with status 1 when stdout cannot
	// take them (> /dev/full); the messages have their own check.
	hw := &errwriter.Writer{W: stdout}
	opts, err := parseFlags(args, hw)
	if errors.Is(err, pflag.ErrHelp) {
		if hw.Err() != nil {
			fmt.Fprintf(stderr, "udpserver: write: %v\n", hw.Err())
			return exitFailed
		}
		return exitOK
	}
	if opts.version {
		if _, err := fmt.Fprintln(stdout, version.Line("udpserver")); err != nil {
			fmt.Fprintf(stderr, "udpserver: write: %v\n", err)
			return exitFailed
		}
		return exitOK
	}
	if opts.man && err == nil {
		if err := manPage(opts.flags).Write(stdout); err != nil {
			fmt.Fprintf(stderr, "udpserver: write: %v\n", err)
			return exitFailed
		}
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "udpserver: %s\nRun 'udpserver --help' for usage.\n", cliflag.ErrorText(err))
		return exitUsage
	}
	log := newLogger(stderr, opts)
	if softMemoryLimit {
		log.Debug("soft memory limit", "bytes", setMemoryLimit(opts.dedup.entries))
	}

	// The server stops when ctx ends, or when stdout is gone: nothing
	// could be recorded, so nothing should be acknowledged any more.
	ctx, stopServing := context.WithCancelCause(ctx)
	defer stopServing(nil)
	out := &lineWriter{w: bufio.NewWriter(stdout)}
	var fwd *forwarder
	if opts.forward.urls != "" {
		if fwd, err = startForward(ctx, opts.forward, opts.announce.instance, opts.announce.service, log); err != nil {
			fmt.Fprintf(stderr, "udpserver: %v\n", err)
			return exitFailed
		}
	}
	s := &udpserver.Server{
		Logger:            log,
		DisableRaw:        opts.noRaw,
		MaxDatagram:       opts.maxSize,
		BatchSize:         opts.batch,
		Sockets:           opts.sockets,
		SpreadByTuple:     opts.spreadByTuple,
		DisableQuarantine: opts.noQuarantine,
		SpreadMultiplier:  uint32(opts.spreadMul),
		DisableCookies:    opts.noCookies,
		CookieRate:        opts.cookieRate,
		RateLimit:         opts.rateLimit,
		RateBurst:         opts.rateBurst,
		// Handler latency for udpkit_handler_duration_seconds: one clock
		// read per message, paid only when someone is watching.
		MeasureHandlers: opts.metrics != "",

		DedupEntries:   opts.dedup.entries,
		DedupPerSource: opts.dedup.perSource,
		DedupPerHost:   opts.dedup.perHost,
		DedupWindow:    opts.dedup.window,

		Keys: opts.keys,
	}
	if opts.keys != nil {
		log.Info("authentication on: unauthenticated datagrams are dropped", "keys", opts.keySource, "current", opts.keys.Current())
	}
	switch {
	case fwd != nil:
		s.Handler = fwd.fwd
		s.MaxDeferred = opts.forward.pending
		defer fwd.close(context.Background(), log) // after Shutdown: nothing is in flight then
	case !opts.quiet:
		s.Handler = udpserver.HandlerFunc(func(ctx context.Context, r *udpserver.Request) error {
			if err := out.write(r); err != nil {
				log.Error("cannot write to stdout; refusing messages and stopping", "err", err)
				stopServing(fmt.Errorf("stdout: %w", err))
				return udpserver.Reject(wire.CodeBusy, "cannot record the message")
			}
			return nil
		})
	}

	conns, err := udpserver.ListenAll(ctx, opts.listen, log)
	if err != nil {
		log.Error("cannot listen", "err", err)
		return exitFailed
	}
	// The announcer lives until the server stops; its goodbyes go out
	// before the sockets close, so browsers drop the server at once.
	annCtx, stopAnnouncing := context.WithCancel(context.Background())
	ann, announced, err := startAnnouncer(annCtx, opts.announce, conns, log)
	if err != nil {
		stopAnnouncing()
		for _, c := range conns {
			c.Close()
		}
		fmt.Fprintf(stderr, "udpserver: %v\n", err)
		var ae *announceError
		if errors.As(err, &ae) && ae.usage {
			return exitUsage
		}
		return exitFailed
	}
	defer func() { stopAnnouncing(); <-announced }()

	// The server's start is the time floor of authentication (datagrams
	// sealed before it are refused): fix it before saying "listening".
	_ = s.Stats()
	if opts.metrics != "" {
		stopMetrics, err := serveMetrics(ctx, opts.metrics, s, ann, log)
		if err != nil {
			log.Error("cannot serve metrics", "err", err)
			return exitFailed
		}
		defer stopMetrics()
	}

	errs := make(chan error, len(conns))
	for _, c := range conns {
		log.Info("listening", "addr", c.LocalAddr().String())
		go func() { errs <- s.Serve(c) }()
	}

	status := exitOK
	select {
	case <-ctx.Done():
		log.Info("stopping", "timeout", opts.shutdownTimeout.String())
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			status = exitFailed // stdout failed: the output is incomplete
		}
	case err := <-errs:
		// A socket failed for good: stop the others too.
		log.Error("serving failed", "err", err)
		status = exitFailed
	}
	stopAnnouncing()
	<-announced
	sctx, cancel := context.WithTimeout(context.Background(), opts.shutdownTimeout)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		log.Warn("handlers still running at the shutdown timeout; closed", "err", err)
	}
	st := s.Stats()
	log.Info("stopped", "received", st.Received, "handled", st.Handled, "acked", st.Acked,
		"nacked", st.Nacked, "duplicates", st.Duplicates, "pings", st.Pings, "dropped", st.Dropped)
	if opts.keys != nil {
		log.Info("authentication", "unauthenticated", st.Unauthenticated, "bad_tag", st.BadTag, "replayed", st.Replayed, "stale", st.Stale, "senders_full", st.AuthSendersFull)
	}
	return status
}

// parseFlags parses the command line; --help is printed to helpOut.
func parseFlags(args []string, helpOut io.Writer) (options, error) {
	var o options
	fs := pflag.NewFlagSet("udpserver", pflag.ContinueOnError)
	fs.SetOutput(helpOut)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprint(helpOut, usage)
		fs.PrintDefaults()
	}
	o.flags = fs
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.man, "man", false, "print the manual page and exit (man -l <(udpserver --man))")
	fs.StringArrayVar(&o.listen, "listen", nil, "`ADDR` to listen on, host:port (repeatable; default 0.0.0.0:9797 and [::]:9797)")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "write nothing to stdout (messages are still handled and acknowledged)")
	fs.BoolVar(&o.noRaw, "no-raw", false, "drop datagrams that are not udpkit messages instead of answering \"ack\"")
	fs.IntVar(&o.maxSize, "max-size", wire.DefaultMaxDatagram, fmt.Sprintf("largest datagram accepted, in `bytes` (%d to %d); larger DATA gets NACK \"too large\"", wire.HeaderLen, wire.MaxDatagram))
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log `format` on stderr: text or json")
	shutdownTimeout := cliflag.Seconds(fs, "shutdown-timeout", "", 5*time.Second, "how long running handlers may take to finish after SIGINT, SIGTERM or SIGHUP, in seconds (5) or a duration (500ms)")
	fs.IntVar(&o.batch, "batch", 0, "datagrams read (recvmmsg) and replies sent (sendmmsg) per system call on Linux; 0 means 64, 1 turns batching off")
	fs.IntVar(&o.sockets, "sockets", 4, "`N` sockets per listen address with SO_REUSEPORT (Linux), each with its own kernel queue and worker; a classic BPF program picks the socket by source IP (IPv6: /64), so one host's flood fills only its own socket's queue, shared with 1 in N other hosts until the host is moved to the quarantine socket (see --no-quarantine; SECURITY.md); 1 for a single queue")
	fs.BoolVar(&o.noQuarantine, "no-quarantine", false, "with --sockets: no quarantine socket; by default one more socket serves the sources found flooding (each IPv4 address or IPv6 /64 that sends more than 1/8 of its socket's datagrams while that socket cannot keep up), so that they no longer share a queue with the hosts the hash put with them (SECURITY.md)")
	fs.UintVar(&o.spreadMul, "spread-multiplier", 0, "with --sockets: the `M`ultiplier of the source hash (made odd); 0, the default, draws a random one at start so that which hosts share a socket is not predictable; set it only to reproduce a placement (bench/floodbench.sh)")
	fs.BoolVar(&o.spreadByTuple, "spread-by-tuple", false, "with --sockets: let the kernel pick the socket by a hash of addresses and ports instead of by source IP (one host's ports then spread over every socket, and so does its flood)")
	fs.BoolVar(&o.noCookies, "no-cookies", false, "never answer DATA over --rate-limit with a cookie (return-routability check; without --key-file only): datagrams forged with a client's address can then lock it out")
	cookieRate := fs.String("cookie-rate", strconv.Itoa(udpserver.DefaultCookieRate)+"/s", "cookie NACKs a second at most, all sources together (`N/s` or N)")
	rateLimit := fs.String("rate-limit", "10000/s", "datagrams a second each source IP (IPv6: /64) may send, as `N/s` or N; over it DATA gets a cookie NACK (see --no-cookies) or one NACK \"rate limited\" a second, the rest is dropped; 0 turns it off (do that for 'udpcli bench')")
	fs.IntVar(&o.rateBurst, "rate-burst", 0, "datagrams a source may send at once above --rate-limit (`N`); default a fifth of --rate-limit (2000 for 10000/s)")
	fs.IntVar(&o.dedup.entries, "dedup-entries", udpserver.DefaultDedupEntries, fmt.Sprintf("exchanges remembered for exactly-once, all senders (`N`, %d bytes each); past it new messages get NACK \"busy\"", udpserver.DedupBytesPerEntry))
	fs.IntVar(&o.dedup.perSource, "dedup-per-source", udpserver.DefaultDedupPerSource, "exchanges one sender (address and port) may have remembered (`N`): N new messages per --dedup-window")
	fs.IntVar(&o.dedup.perHost, "dedup-per-host", udpserver.DefaultDedupPerHost, "exchanges one host (IP, IPv6 /64) may have remembered, all its ports (`N`)")
	dedupWindow := cliflag.Seconds(fs, "dedup-window", "", udpserver.DefaultDedupWindow, "how long an exchange is remembered, in seconds (120: EXCHANGE_LIFETIME); shorter only for benchmarks: a client retransmitting later may be handled twice")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics and a health check at /healthz, host:port (e.g. 127.0.0.1:9799; :9799 for every address)")
	o.announce.register(fs)
	o.forward.register(fs)
	loadKeys := cliflag.KeyFile(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if err := o.forward.validate(fs); err != nil {
		return o, err
	}
	keys, source, err := loadKeys()
	if err != nil {
		return o, err
	}
	o.keys, o.keySource, o.announce.keys = keys, source, keys
	o.shutdownTimeout = *shutdownTimeout
	o.dedup.window = *dedupWindow
	if o.dedup.entries < 1 || o.dedup.perSource < 1 || o.dedup.perHost < 1 || o.dedup.window <= 0 {
		return o, fmt.Errorf("--dedup-entries, --dedup-per-source, --dedup-per-host and --dedup-window must be more than 0")
	}
	if err := o.announce.validate(); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: udpserver takes flags only (did you mean --listen %s?)", fs.Arg(0), fs.Arg(0))
	}
	if err := o.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return o, fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", *level)
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return o, fmt.Errorf("invalid --log-format %q: want text or json", o.logFormat)
	}
	if o.maxSize < wire.HeaderLen || o.maxSize > wire.MaxDatagram {
		return o, fmt.Errorf("invalid --max-size %d: want %d to %d bytes", o.maxSize, wire.HeaderLen, wire.MaxDatagram)
	}
	cr := strings.TrimSuffix(*cookieRate, "/s")
	if o.cookieRate, err = strconv.ParseFloat(cr, 64); err != nil || o.cookieRate < 1 || o.cookieRate > 1e9 {
		return o, fmt.Errorf("invalid --cookie-rate %q: want cookies a second such as 50000/s (1 or more; --no-cookies turns them off)", *cookieRate)
	}
	rl := strings.TrimSuffix(*rateLimit, "/s")
	if o.rateLimit, err = strconv.ParseFloat(rl, 64); err != nil || o.rateLimit < 0 || o.rateLimit > 1e9 || o.rateLimit != o.rateLimit {
		return o, fmt.Errorf("invalid --rate-limit %q: want datagrams a second such as 1000/s, or 0 for no limit", *rateLimit)
	}
	if fs.Changed("rate-burst") && o.rateBurst < 1 {
		return o, fmt.Errorf("invalid --rate-burst %d: want 1 or more", o.rateBurst)
	}
	if o.batch < 0 || o.batch > 1024 {
		return o, fmt.Errorf("invalid --batch %d: want 0 to 1024", o.batch)
	}
	if o.spreadMul > 1<<32-1 {
		return o, fmt.Errorf("invalid --spread-multiplier %d: want 0 to %d", o.spreadMul, uint32(1<<32-1))
	}
	if o.sockets < 1 || o.sockets > 1024 {
		return o, fmt.Errorf("invalid --sockets %d: want 1 to 1024", o.sockets)
	}
	if o.shutdownTimeout < 0 {
		return o, fmt.Errorf("invalid --shutdown-timeout %v: want a positive duration such as 5s", o.shutdownTimeout)
	}
	if o.metrics != "" {
		if _, err := netaddr.SplitHostPort(o.metrics); errors.Is(err, netaddr.ErrNoPort) {
			return o, fmt.Errorf("invalid --metrics %q: want host:port, such as 127.0.0.1:9799 or :9799", o.metrics)
		} else if err != nil {
			return o, fmt.Errorf("invalid --metrics %q: %w", o.metrics, err)
		}
	}
	for _, a := range o.listen {
		host, err := netaddr.SplitHostPort(a)
		if errors.Is(err, netaddr.ErrNoPort) {
			return o, fmt.Errorf("invalid --listen %q: want host:port, such as 127.0.0.1:9797, [::1]:9797 or :9797", a)
		}
		// A name such as localhost is resolved when listening; what looks
		// like an address must be one (and is never sent to a resolver).
		if err == nil {
			err = netaddr.CheckHost(host)
		}
		if err != nil {
			return o, fmt.Errorf("invalid --listen %q: %w", a, err)
		}
	}
	return o, nil
}

// manPage is udpserver(1), made from --help.
func manPage(fs *pflag.FlagSet) manpage.Page {
	return manpage.Page{Name: "udpserver", Section: 1, Summary: "receive udpkit messages over UDP and acknowledge them",
		Help: strings.TrimSuffix(usage, "Flags:\n"), Flags: fs, Version: "udpkit " + version.String(),
		SeeAlso: []string{"udpcli(1)", "systemd.service(5)"}}
}

func newLogger(w io.Writer, o options) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.logLevel}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// record is one JSON line on stdout.
type record struct {
	Time   string  `json:"time"`
	From   string  `json:"from"`
	To     string  `json:"to,omitempty"`
	ID     string  `json:"id"` // wire.IDString: 16 hex digits, the one notation of IDs
	Raw    bool    `json:"raw"`
	Size   int     `json:"size"`
	Text   *string `json:"text,omitempty"`
	Base64 *string `json:"base64,omitempty"`
}

// lineWriter writes records to a buffered stdout, one whole line at a time,
// flushed before the handler returns so that the ACK follows the line.
type lineWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte
}

func (lw *lineWriter) write(r *udpserver.Request) error {
	rec := record{
		Time: time.Now().UTC().Format(time.RFC3339Nano),
		From: r.Remote.String(),
		ID:   wire.IDString(r.ID),
		Raw:  r.Raw,
		Size: len(r.Payload),
	}
	if r.Local.IsValid() {
		rec.To = r.Local.String()
	}
	if utf8.Valid(r.Payload) {
		s := string(r.Payload)
		rec.Text = &s
	} else {
		s := base64.StdEncoding.EncodeToString(r.Payload)
		rec.Base64 = &s
	}
	lw.mu.Lock()
	defer lw.mu.Unlock()
	var err error
	lw.buf, err = json.Marshal(rec)
	if err != nil {
		return err
	}
	lw.buf = append(lw.buf, '\n')
	if _, err := lw.w.Write(lw.buf); err != nil {
		return err
	}
	return lw.w.Flush()
}
