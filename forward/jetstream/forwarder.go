package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"
)

// Defaults of Config.
const (
	// DefaultSubject is the subject template: one subject per server
	// instance.
	DefaultSubject = "udpkit.{instance}"

	// DefaultService is the service type put in the {service} field.
	DefaultService = "_udpkit._udp"

	// DefaultTimeout is how long a publish waits for its PubAck before the
	// device gets NACK busy. Well under the client's retransmission span
	// (about 10 s with udpkit's defaults), so the device still retries.
	DefaultTimeout = 2 * time.Second

	// DefaultMaxPending is how many publishes wait for their PubAck at
	// once. It should not exceed the server's MaxDeferred
	// (udpserver.DefaultMaxDeferred, 4096).
	DefaultMaxPending = 4096

	// MinDuplicates is the duplicate window a stream needs for the
	// exactly-once promise: EXCHANGE_LIFETIME, the span over which a device
	// may retransmit one message (PROTOCOL.md section 3).
	MinDuplicates = 120 * time.Second
)

// Header names the forwarder sets on every message, besides
// Nats-Msg-Id (njs.MsgIDHeader).
const (
	HeaderSource      = "Udpkit-Source"      // sender's address and port
	HeaderDestination = "Udpkit-Destination" // address the datagram was sent to, when known
	HeaderReceived    = "Udpkit-Received"    // when the server read it, RFC 3339 with nanoseconds, UTC
	HeaderKind        = "Udpkit-Kind"        // "data" (a udpkit DATA message) or "raw" (plain datagram)
	HeaderMessageID   = "Udpkit-Message-Id"  // the DATA message ID as wire.IDString (16 hex digits, as udpserver's records); absent for raw
	HeaderInstance    = "Udpkit-Instance"    // the forwarding server's instance name
)

// Errors New returns, in the chain of its error.
var (
	// ErrNoStream: no stream stores the configured subject.
	ErrNoStream = errors.New("no JetStream stream stores the subject")
	// ErrBadSubject: the subject template is not a valid NATS subject.
	ErrBadSubject = errors.New("bad subject template")
	// ErrNotStored: the stream named by Config.Stream exists but none of
	// its subjects covers the subject the forwarder publishes to; every
	// publish would fail.
	ErrNotStored = errors.New("the stream does not store the subject")
	// ErrNoJetStream: the NATS server (or the account) has no JetStream.
	ErrNoJetStream = errors.New("JetStream is not enabled on the NATS server (start nats-server with -js) or for this account")
)

// Config configures a Forwarder, by value; zero fields take the defaults
// DefaultConfig spells out. Its zero value works, given a stream that
// stores "udpkit.udpkit".
type Config struct {
	// Subject is the subject template. {instance}, {service} and {source}
	// are replaced by the server's instance name, its service type and the
	// sender's IP address, each with every character other than letters,
	// digits, '-' and '_' turned into '_' (so that each stays one subject
	// token). Default DefaultSubject.
	Subject string
	// Instance is the server's instance name. Default: "udpkit".
	Instance string
	// Service is the service type. Default DefaultService.
	Service string
	// Stream is the name of the stream the messages must land in; the
	// PubAck must come from it (Nats-Expected-Stream). Default: the stream
	// that stores the subject, looked up by New.
	Stream string
	// Timeout is how long a publish waits for its PubAck. Default
	// DefaultTimeout.
	Timeout time.Duration
	// MaxPending bounds the publishes in flight. Default
	// DefaultMaxPending.
	MaxPending int
	// Logger receives warnings (a short duplicate window) and failed
	// publishes at debug level. Default: none.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration the zero Config stands for
// (Stream stays empty: the stream that stores the subject).
func DefaultConfig() Config {
	return Config{Subject: DefaultSubject, Instance: "udpkit", Service: DefaultService,
		Timeout: DefaultTimeout, MaxPending: DefaultMaxPending}
}

// Stats are a Forwarder's counters.
type Stats struct {
	Published  uint64 // messages handed to the NATS connection
	Stored     uint64 // PubAcks received, duplicates included: acknowledged to the device
	Duplicates uint64 // PubAcks that said the stream already had the message (a retransmission)
	Failed     uint64 // publishes without a PubAck in time, or refused: NACK busy to the device
	Pending    int    // publishes waiting for their PubAck now
}

// Forwarder is a udpserver.Handler that stores every accepted message in a
// JetStream stream and acknowledges it to the device only once the stream
// confirmed it (PubAck). It defers each reply (udpserver.Request.Defer),
// so many publishes are in flight at once. A publish that fails or is not
// confirmed within Config.Timeout gets NACK busy: the device retries, later
// or at another server, with the same message ID, and the stream's duplicate
// window stores it once.
type Forwarder struct {
	js       njs.JetStream
	nc       *nats.Conn
	cfg      Config
	log      *slog.Logger
	subject  string   // the subject, when it does not depend on the source
	parts    []string // the template split around {source}, when it does
	stream   string
	expected []njs.PublishOpt

	mu      sync.Mutex
	pending map[*nats.Msg]*udpserver.Responder
	closed  bool

	published, stored, duplicates, failed atomic.Uint64
}

// New returns a Forwarder that publishes through nc. It checks that a
// stream stores the subject (ErrNoStream otherwise, or the broker's error
// when it cannot be asked) and warns when that stream's duplicate window is
// shorter than MinDuplicates. Close it before nc.
func New(ctx context.Context, nc *nats.Conn, cfg Config) (*Forwarder, error) {
	if cfg.Subject == "" {
		cfg.Subject = DefaultSubject
	}
	if cfg.Instance == "" {
		cfg.Instance = "udpkit"
	}
	if cfg.Service == "" {
		cfg.Service = DefaultService
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("jetstream forwarder: negative timeout %v", cfg.Timeout)
	case cfg.MaxPending < 0:
		return nil, fmt.Errorf("jetstream forwarder: negative MaxPending %d", cfg.MaxPending)
	}
	f := &Forwarder{nc: nc, cfg: cfg, log: cfg.Logger, pending: make(map[*nats.Msg]*udpserver.Responder)}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	tmpl := strings.NewReplacer("{instance}", Token(cfg.Instance), "{service}", Token(cfg.Service)).Replace(cfg.Subject)
	f.parts = strings.Split(tmpl, "{source}")
	if len(f.parts) == 1 {
		f.subject, f.parts = tmpl, nil
	}
	if err := ValidTemplate(cfg.Subject); err != nil {
		return nil, fmt.Errorf("jetstream forwarder: %w %q: %w", ErrBadSubject, cfg.Subject, err)
	}
	probe, pattern := strings.Join(f.parts, "probe"), strings.Join(f.parts, "*")
	if f.parts == nil {
		probe, pattern = f.subject, f.subject
	}
	js, err := njs.New(nc,
		njs.WithPublishAsyncMaxPending(cfg.MaxPending),
		njs.WithPublishAsyncTimeout(cfg.Timeout),
		njs.WithPublishAsyncAckHandler(f.acked),
		njs.WithPublishAsyncErrHandler(f.failedPublish))
	if err != nil {
		return nil, fmt.Errorf("jetstream forwarder: %w", err)
	}
	f.js = js
	f.stream = cfg.Stream
	if f.stream == "" {
		f.stream, err = js.StreamNameBySubject(ctx, probe)
		if errors.Is(err, njs.ErrStreamNotFound) {
			return nil, fmt.Errorf("jetstream forwarder: %w %q (create one, e.g. nats stream add --subjects 'udpkit.>' --dupe-window 2m UDPKIT)", ErrNoStream, probe)
		}
		if err != nil {
			return nil, fmt.Errorf("jetstream forwarder: looking up the stream of %q: %w", probe, noJetStream(err))
		}
	}
	st, err := js.Stream(ctx, f.stream)
	if errors.Is(err, njs.ErrStreamNotFound) {
		return nil, fmt.Errorf("jetstream forwarder: %w: stream %q does not exist", ErrNoStream, f.stream)
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream forwarder: stream %q: %w", f.stream, noJetStream(err))
	}
	if sc := st.CachedInfo().Config; !coveredBy(sc, pattern) {
		return nil, fmt.Errorf("jetstream forwarder: %w: stream %q stores %q, not %q, the subject the messages go to (add it: nats stream edit %s --subjects ...)",
			ErrNotStored, f.stream, sc.Subjects, pattern, f.stream)
	}
	if d := st.CachedInfo().Config.Duplicates; d < MinDuplicates {
		f.log.Warn("jetstream forwarder: the stream's duplicate window is shorter than a device's retransmission span; a late retransmission may be stored twice",
			"stream", f.stream, "duplicates", d, "want", MinDuplicates)
	}
	f.expected = []njs.PublishOpt{njs.WithExpectStream(f.stream)}
	return f, nil
}

// noJetStream turns the errors of a server without JetStream (nobody
// answers the API subjects) into ErrNoJetStream.
func noJetStream(err error) error {
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, njs.ErrJetStreamNotEnabled) || errors.Is(err, njs.ErrJetStreamNotEnabledForAccount) {
		return noJetStreamError{err}
	}
	return err
}

// noJetStreamError says ErrNoJetStream and keeps the client's error (no
// responders) in the chain without repeating it.
type noJetStreamError struct{ cause error }

func (e noJetStreamError) Error() string   { return ErrNoJetStream.Error() }
func (e noJetStreamError) Unwrap() []error { return []error{ErrNoJetStream, e.cause} }

// Stream returns the name of the stream the messages go to.
func (f *Forwarder) Stream() string { return f.stream }

// Subject returns the subject a message from src goes to.
func (f *Forwarder) Subject(src netip.Addr) string {
	if f.parts == nil {
		return f.subject
	}
	return strings.Join(f.parts, Token(src.String()))
}

// MsgID returns the Nats-Msg-Id of message id from sender: the sender's
// address and port and the message ID, the identity under which the server
// de-duplicates too, so that a retransmission that reaches another server
// carries the same ID. Raw datagrams (id 0) have none: they are not
// de-duplicated.
func MsgID(sender netip.AddrPort, id uint64) string {
	if id == 0 {
		return ""
	}
	return sender.String() + "/" + strconv.FormatUint(id, 16)
}

// appendID appends id as wire.IDString writes it, without a string.
func appendID(b []byte, id uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[id>>uint(shift)&0xf])
	}
	return b
}

// ServeUDP publishes r and defers its reply until the PubAck. Without a
// free deferred slot (udpserver.Server.MaxDeferred) or publish slot
// (Config.MaxPending), or when the connection refuses the publish, it
// returns an error that NACKs busy.
func (f *Forwarder) ServeUDP(ctx context.Context, r *udpserver.Request) error {
	m := &nats.Msg{Subject: f.Subject(r.Remote.Addr()), Header: make(nats.Header, 7)}
	m.Data = append([]byte(nil), r.Payload...)
	// The header values are slices of one string, and the header's value
	// slices of one array: three allocations per message instead of ten,
	// for what the profile showed as a visible share of the forwarder's
	// own cost (BENCHMARKS.md).
	var b [160]byte
	t := r.Remote.AppendTo(b[:0])
	src := len(t)
	if !r.Raw {
		t = append(t, '/')
		t = strconv.AppendUint(t, r.ID, 16)
	}
	msgID := len(t)
	t = time.Now().UTC().AppendFormat(t, time.RFC3339Nano)
	recv := len(t)
	t = appendID(t, r.ID) // as wire.IDString: 16 hex digits
	dec := len(t)
	if r.Local.IsValid() {
		t = r.Local.AppendTo(t)
	}
	all := string(t)
	vals := make([]string, 7)
	set := func(i int, k, v string) { vals[i] = v; m.Header[k] = vals[i : i+1 : i+1] }
	set(0, HeaderSource, all[:src])
	if r.Local.IsValid() {
		set(1, HeaderDestination, all[dec:])
	}
	set(2, HeaderReceived, all[msgID:recv])
	set(3, HeaderInstance, f.cfg.Instance)
	if r.Raw {
		set(4, HeaderKind, "raw")
	} else {
		set(4, HeaderKind, "data")
		set(5, HeaderMessageID, all[recv:dec])
		set(6, njs.MsgIDHeader, all[:msgID])
	}
	resp, err := r.Defer()
	if err != nil {
		f.failed.Add(1)
		return err
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		f.failed.Add(1)
		return udpserver.Reject(wire.CodeBusy, "not stored: forwarder closed")
	}
	f.pending[m] = resp
	f.mu.Unlock()
	if _, err := f.js.PublishMsgAsync(m, f.expected...); err != nil {
		// The callbacks never run for a publish that did not start.
		if f.take(m) != nil {
			f.failed.Add(1)
			return udpserver.Reject(wire.CodeBusy, "not stored: "+err.Error())
		}
		return nil
	}
	f.published.Add(1)
	return nil
}

// take removes m's Responder from the pending set, or returns nil if
// another path completed it already.
func (f *Forwarder) take(m *nats.Msg) *udpserver.Responder {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := f.pending[m]
	delete(f.pending, m)
	return resp
}

// acked runs on the NATS client's goroutine for each PubAck.
func (f *Forwarder) acked(_ njs.JetStream, m *nats.Msg, pa *njs.PubAck) {
	resp := f.take(m)
	if resp == nil {
		return
	}
	f.stored.Add(1)
	if pa.Duplicate {
		f.duplicates.Add(1)
	}
	resp.Ack()
}

// failedPublish runs on the NATS client's goroutine (sometimes with its
// locks held: it must not call back into the client) for each publish that
// failed or timed out.
func (f *Forwarder) failedPublish(_ njs.JetStream, m *nats.Msg, err error) {
	resp := f.take(m)
	if resp == nil {
		return
	}
	f.failed.Add(1)
	f.log.Debug("jetstream forwarder: not stored", "subject", m.Subject, "msg_id", m.Header.Get(njs.MsgIDHeader), "err", err)
	resp.Done(udpserver.Reject(wire.CodeBusy, "not stored: "+err.Error()))
}

// Stats returns the forwarder's counters.
func (f *Forwarder) Stats() Stats {
	f.mu.Lock()
	n := len(f.pending)
	f.mu.Unlock()
	return Stats{Published: f.published.Load(), Stored: f.stored.Load(), Duplicates: f.duplicates.Load(),
		Failed: f.failed.Load(), Pending: n}
}

// Close waits until every publish in flight has its PubAck or its error,
// or until ctx ends, and then refuses the rest with NACK busy. Messages
// that arrive afterwards are refused too. Shut the udpserver.Server down
// first, so that nothing new arrives.
func (f *Forwarder) Close(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		f.mu.Lock()
		n := len(f.pending)
		f.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			f.mu.Lock()
			left := f.pending
			f.pending = make(map[*nats.Msg]*udpserver.Responder)
			f.mu.Unlock()
			for _, resp := range left {
				f.failed.Add(1)
				resp.Done(udpserver.Reject(wire.CodeBusy, "not stored: forwarder closed"))
			}
			return fmt.Errorf("jetstream forwarder: %d publishes unconfirmed: %w", len(left), ctx.Err())
		}
	}
}

// Token turns s into one NATS subject token: every character other than
// ASCII letters, digits, '-' and '_' becomes '_'. Empty s becomes "_".
func Token(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// ValidSubject reports whether s is a subject a message can be published
// to: dot-separated, non-empty tokens without wildcards or white space.
func ValidSubject(s string) error {
	if s == "" {
		return errors.New("empty subject")
	}
	for tok := range strings.SplitSeq(s, ".") {
		switch {
		case tok == "":
			return errors.New("empty token")
		case tok == "*" || tok == ">":
			return errors.New("wildcard token")
		case strings.ContainsAny(tok, " \t\r\n"):
			return errors.New("white space")
		}
	}
	return nil
}
