package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/spf13/pflag"

	"github.com/udpkit/udpkit/forward/jetstream"
	"github.com/udpkit/udpkit/internal/cliflag"
)

// forwardOptions are the --forward flags: store every message in a NATS
// JetStream stream and acknowledge it once stored.
type forwardOptions struct {
	urls     string
	subject  string
	stream   string
	create   bool
	replicas int
	timeout  *time.Duration
	pending  int
	ping     *time.Duration
	creds    string
	nkey     string
	tlsCA    string
	tlsCert  string
	tlsKey   string
}

func (o *forwardOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.urls, "forward", "", "store every message in NATS JetStream at `URL` (nats://HOST:PORT, several comma-separated) and acknowledge it only once the stream confirmed it")
	fs.StringVar(&o.subject, "forward-subject", jetstream.DefaultSubject, "subject `template` for --forward: {instance}, {service} and {source} (the sender's IP) are filled in")
	fs.StringVar(&o.stream, "forward-stream", "", "the stream `NAME` the messages must land in (default: the stream that stores the subject)")
	fs.BoolVar(&o.create, "forward-create", false, "create the stream when it does not exist (name: --forward-stream or UDPKIT; subjects: the template with * for each field; duplicate window 2m); an existing stream is never changed: if it does not store the subject, udpserver stops with an error")
	fs.IntVar(&o.replicas, "forward-replicas", 1, "replicas of a stream --forward-create makes (`N`: 1, or 3 on a cluster)")
	o.timeout = positiveSeconds(fs, "forward-timeout", jetstream.DefaultTimeout, "how long a message waits for the stream's confirmation before the device gets NACK busy, in seconds (2) or a duration (500ms)")
	fs.IntVar(&o.pending, "forward-pending", jetstream.DefaultMaxPending, "messages waiting for the stream's confirmation at once (`N`); past it, NACK busy")
	o.ping = positiveSeconds(fs, "forward-ping", defaultPing, "keepalive: ping the NATS server every `interval`, in seconds (2) or a duration (500ms); after 2 unanswered pings the connection counts as lost and udpserver reconnects, so a silently cut link is noticed in about three intervals (nats.go's own default is 2 minutes)")
	fs.StringVar(&o.creds, "forward-creds", "", "NATS credentials `FILE` (JWT and NKey seed) for --forward")
	fs.StringVar(&o.nkey, "forward-nkey", "", "NATS NKey seed `FILE` for --forward")
	fs.StringVar(&o.tlsCA, "forward-tls-ca", "", "CA certificate `FILE` to verify the NATS server with (implies TLS)")
	fs.StringVar(&o.tlsCert, "forward-tls-cert", "", "client certificate `FILE` for NATS TLS (with --forward-tls-key)")
	fs.StringVar(&o.tlsKey, "forward-tls-key", "", "client key `FILE` for NATS TLS")
}

func (o *forwardOptions) validate(fs *pflag.FlagSet) error {
	if o.urls == "" {
		for _, name := range []string{"forward-subject", "forward-stream", "forward-create", "forward-replicas", "forward-timeout", "forward-pending", "forward-ping", "forward-creds", "forward-nkey", "forward-tls-ca", "forward-tls-cert", "forward-tls-key"} {
			if fs.Changed(name) {
				return fmt.Errorf("--%s needs --forward nats://HOST:PORT", name)
			}
		}
		return nil
	}
	for u := range strings.SplitSeq(o.urls, ",") {
		pu, err := url.Parse(strings.TrimSpace(u))
		if err != nil || pu.Host == "" || (pu.Scheme != "nats" && pu.Scheme != "tls") {
			return fmt.Errorf("invalid --forward %q: want nats://HOST:PORT (or tls://HOST:PORT), comma-separated", redact(u))
		}
	}
	switch {
	case o.pending < 1:
		return fmt.Errorf("invalid --forward-pending %d: want 1 or more", o.pending)
	case o.replicas < 1 || o.replicas > 5:
		return fmt.Errorf("invalid --forward-replicas %d: want 1 to 5", o.replicas)
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return errors.New("--forward-tls-cert and --forward-tls-key go together")
	case o.creds != "" && o.nkey != "":
		return errors.New("give --forward-creds or --forward-nkey, not both")
	}
	if err := jetstream.ValidTemplate(o.subject); err != nil {
		return fmt.Errorf("invalid --forward-subject %q: %w", o.subject, err)
	}
	return nil
}

// positiveSeconds is a cliflag.Seconds flag that must be more than 0, with
// one message for 0 and for negative values.
func positiveSeconds(fs *pflag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	*p = value
	fs.Var((*positiveValue)(p), name, usage)
	return p
}

type positiveValue time.Duration

func (v *positiveValue) Set(s string) error {
	d, err := cliflag.ParseSeconds(s)
	if err == nil && d <= 0 || err != nil && strings.HasPrefix(err.Error(), "negative") {
		return errors.New("want more than 0 seconds (2) or a duration (500ms)")
	}
	if err != nil {
		return err
	}
	*v = positiveValue(d)
	return nil
}

func (v *positiveValue) Type() string { return "seconds" }

func (v *positiveValue) String() string {
	return strconv.FormatFloat(time.Duration(*v).Seconds(), 'f', -1, 64)
}

// redact hides the user information (token, user, password) of every URL
// in urls (comma-separated, as --forward takes them), parsed or not, so
// that no credential reaches a log or an error message.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		rest, scheme := u, ""
		if j := strings.Index(u, "://"); j >= 0 {
			scheme, rest = u[:j+3], u[j+3:]
		}
		host, path := rest, ""
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			host, path = rest[:j], rest[j:]
		}
		if j := strings.LastIndexByte(host, '@'); j >= 0 {
			parts[i] = scheme + "REDACTED@" + host[j+1:] + path
		}
	}
	return strings.Join(parts, ",")
}

// checkFiles reads the credential and TLS files before connecting, so that
// a missing or malformed one is reported as such, not as an unreachable
// server.
func (o forwardOptions) checkFiles() error {
	if o.creds != "" {
		b, err := os.ReadFile(o.creds)
		if err == nil {
			if _, err = nkeys.ParseDecoratedJWT(b); err == nil {
				_, err = nkeys.ParseDecoratedNKey(b)
			}
		}
		if err != nil {
			return fmt.Errorf("--forward-creds %s: not a usable NATS credentials file (JWT and NKey seed): %w", o.creds, err)
		}
	}
	if o.tlsCA != "" {
		b, err := os.ReadFile(o.tlsCA)
		if err == nil && !x509.NewCertPool().AppendCertsFromPEM(b) {
			err = errors.New("no PEM certificate in it")
		}
		if err != nil {
			return fmt.Errorf("--forward-tls-ca %s: not a usable CA certificate file: %w", o.tlsCA, err)
		}
	}
	if o.tlsCert != "" {
		if _, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey); err != nil {
			return fmt.Errorf("--forward-tls-cert %s, --forward-tls-key %s: not a usable certificate and key: %w", o.tlsCert, o.tlsKey, err)
		}
	}
	return nil
}

// defaultPing is --forward-ping's default: with maxPingsOut, a cut link
// is noticed within about 6 s, at the cost of one tiny PING/PONG per 2 s.
const (
	defaultPing = 2 * time.Second
	maxPingsOut = 2
)

// forwarder is a running --forward: the handler and what to close.
type forwarder struct {
	fwd *jetstream.Forwarder
	nc  *nats.Conn
}

// startForward connects to the broker and checks (or creates) the stream.
// Its errors are meant for the user: the broker is unreachable, the stream
// is missing.
func startForward(ctx context.Context, o forwardOptions, instance, service string, log *slog.Logger) (*forwarder, error) {
	if instance == "" {
		instance, _ = os.Hostname()
	}
	opts := []nats.Option{
		nats.Name("udpserver " + instance),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second),
		nats.NoCallbacksAfterClientClose(),
		// A broker that vanishes without closing the TCP connection (a
		// cut cable, a partition) is noticed by unanswered pings.
		nats.PingInterval(*o.ping),
		nats.MaxPingsOutstanding(maxPingsOut),
		// The forwarder logs the connection lost and back (Config.Logger).
	}
	if err := o.checkFiles(); err != nil {
		return nil, err
	}
	if o.creds != "" {
		opts = append(opts, nats.UserCredentials(o.creds))
	}
	if o.nkey != "" {
		opt, err := nats.NkeyOptionFromSeed(o.nkey)
		if err != nil {
			return nil, fmt.Errorf("--forward-nkey: %w", err)
		}
		opts = append(opts, opt)
	}
	if o.tlsCA != "" {
		opts = append(opts, nats.RootCAs(o.tlsCA))
	}
	if o.tlsCert != "" {
		opts = append(opts, nats.ClientCert(o.tlsCert, o.tlsKey))
	}
	nc, err := nats.Connect(o.urls, opts...)
	if err != nil {
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) {
			return nil, fmt.Errorf("--forward %s: the NATS server refused the credentials: %w", redact(o.urls), err)
		}
		return nil, fmt.Errorf("--forward %s: cannot reach the NATS server: %w", redact(o.urls), err)
	}
	cfg := jetstream.Config{Subject: o.subject, Instance: instance, Service: service, Stream: o.stream,
		Timeout: *o.timeout, MaxPending: o.pending, Logger: log}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if o.create {
		name := o.stream
		if name == "" {
			name = "UDPKIT"
		}
		created, err := jetstream.EnsureStream(cctx, nc, njs.StreamConfig{Name: name, Subjects: []string{jetstream.StreamSubject(o.subject)}, Replicas: o.replicas})
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("--forward-create: %w", err)
		}
		if created {
			log.Info("forward: created the stream", "stream", name, "subjects", jetstream.StreamSubject(o.subject), "replicas", o.replicas)
		}
		cfg.Stream = name
	}
	f, err := jetstream.New(cctx, nc, cfg)
	if err != nil {
		nc.Close()
		if errors.Is(err, jetstream.ErrNoStream) {
			return nil, fmt.Errorf("--forward: %w (or start udpserver with --forward-create)", err)
		}
		if errors.Is(err, jetstream.ErrNotStored) && o.create {
			return nil, fmt.Errorf("--forward-create: %w (--forward-create makes a stream only when none of that name exists; it does not change an existing one)", err)
		}
		return nil, fmt.Errorf("--forward: %w", err)
	}
	log.Info("forwarding to JetStream", "url", redact(nc.ConnectedUrl()), "stream", f.Stream(), "subject", o.subject, "timeout", cfg.Timeout)
	if oneProcBesideBroker(os.Getenv("GOMAXPROCS"), runtime.NumCPU(), nc.ConnectedAddr()) {
		runtime.GOMAXPROCS(1)
		log.Info("forward: the broker runs on this host with 2 CPUs or fewer: udpserver runs on one P to leave the broker its core (set GOMAXPROCS to choose)")
	}
	return &forwarder{fwd: f, nc: nc}, nil
}

// oneProcBesideBroker reports whether udpserver should run on one P: the
// broker is on this host (a loopback address), the host has at most two
// CPUs, and the user did not set GOMAXPROCS. Each forwarded message passes
// through several goroutines (worker, nats.go's flusher and reader, the
// PubAck subscription, the reply loop); with two Ps every hand-off wakes
// another thread, CPU that the broker on the same two cores then lacks.
// Measured with bench/jsbench.sh (BENCHMARKS.md, JetStream, session 5):
// one P costs 25 % less CPU per forwarded message and gives 0.89–0.92×
// nats bench against 0.73–0.75× with two.
func oneProcBesideBroker(env string, ncpu int, brokerAddr string) bool {
	if env != "" || ncpu > 2 {
		return false
	}
	ap, err := netip.ParseAddrPort(brokerAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// close waits for the publishes in flight (the server was shut down
// first, so nothing new comes), then closes the connection.
func (f *forwarder) close(ctx context.Context, log *slog.Logger) {
	if err := f.fwd.Close(ctx); err != nil {
		log.Warn("forward: unconfirmed messages at the shutdown timeout; refused", "err", err)
	}
	st := f.fwd.Stats()
	log.Info("forward: stopped", "stored", st.Stored, "duplicates", st.Duplicates, "failed", st.Failed)
	f.nc.Close()
}
