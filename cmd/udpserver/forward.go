package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
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
	fs.BoolVar(&o.create, "forward-create", false, "create the stream when it does not exist (name: --forward-stream or UDPKIT; subjects: the template with * for each field; duplicate window 2m)")
	fs.IntVar(&o.replicas, "forward-replicas", 1, "replicas of a stream --forward-create makes (`N`: 1, or 3 on a cluster)")
	o.timeout = cliflag.Seconds(fs, "forward-timeout", "", jetstream.DefaultTimeout, "how long a message waits for the stream's confirmation before the device gets NACK busy, in seconds (2) or a duration (500ms)")
	fs.IntVar(&o.pending, "forward-pending", jetstream.DefaultMaxPending, "messages waiting for the stream's confirmation at once (`N`); past it, NACK busy")
	fs.StringVar(&o.creds, "forward-creds", "", "NATS credentials `FILE` (JWT and NKey seed) for --forward")
	fs.StringVar(&o.nkey, "forward-nkey", "", "NATS NKey seed `FILE` for --forward")
	fs.StringVar(&o.tlsCA, "forward-tls-ca", "", "CA certificate `FILE` to verify the NATS server with (implies TLS)")
	fs.StringVar(&o.tlsCert, "forward-tls-cert", "", "client certificate `FILE` for NATS TLS (with --forward-tls-key)")
	fs.StringVar(&o.tlsKey, "forward-tls-key", "", "client key `FILE` for NATS TLS")
}

func (o *forwardOptions) validate(fs *pflag.FlagSet) error {
	if o.urls == "" {
		for _, name := range []string{"forward-subject", "forward-stream", "forward-create", "forward-replicas", "forward-timeout", "forward-pending", "forward-creds", "forward-nkey", "forward-tls-ca", "forward-tls-cert", "forward-tls-key"} {
			if fs.Changed(name) {
				return fmt.Errorf("--%s needs --forward nats://HOST:PORT", name)
			}
		}
		return nil
	}
	for u := range strings.SplitSeq(o.urls, ",") {
		pu, err := url.Parse(strings.TrimSpace(u))
		if err != nil || pu.Host == "" || (pu.Scheme != "nats" && pu.Scheme != "tls") {
			return fmt.Errorf("invalid --forward %q: want nats://HOST:PORT (or tls://HOST:PORT), comma-separated", u)
		}
	}
	switch {
	case *o.timeout <= 0:
		return fmt.Errorf("invalid --forward-timeout %v: want more than 0", *o.timeout)
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
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("forward: NATS connection lost; messages get NACK busy until it is back", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("forward: NATS connection back", "url", nc.ConnectedUrlRedacted())
		}),
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
		return nil, fmt.Errorf("--forward %s: cannot reach the NATS server: %w", o.urls, err)
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
		return nil, fmt.Errorf("--forward: %w", err)
	}
	log.Info("forwarding to JetStream", "url", nc.ConnectedUrlRedacted(), "stream", f.Stream(), "subject", o.subject, "timeout", cfg.Timeout)
	return &forwarder{fwd: f, nc: nc}, nil
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
