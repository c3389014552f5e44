package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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
	DefaultService = wire.ServiceServer

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

	// DefaultLogEvery is how often, at most, the forwarder logs a line
	// about failed publishes after the first.
	DefaultLogEvery = 10 * time.Second
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
	// Logger receives warnings (a short duplicate window), at info level
	// failed publishes (the first, then at most one line per LogEvery with
	// counts by cause) and the NATS connection lost and back, and each
	// failed publish at debug level. Default: none.
	Logger *slog.Logger
	// LogEvery is the least time between two info lines about failed
	// publishes. Default DefaultLogEvery.
	LogEvery time.Duration
}

// DefaultConfig returns the configuration the zero Config stands for
// (Stream stays empty: the stream that stores the subject).
func DefaultConfig() Config {
	return Config{Subject: DefaultSubject, Instance: "udpkit", Service: DefaultService,
		Timeout: DefaultTimeout, MaxPending: DefaultMaxPending, LogEvery: DefaultLogEvery}
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
//
// It publishes with the core NATS client and reads the PubAcks on one
// subscription of its own (a reply subject per publish: its inbox and a
// sequence number), instead of the jetstream package's asynchronous
// publish: that one allocates a future, a timer and a map entry per
// message and decodes every PubAck with encoding/json, a third of the
// forwarder's CPU in the profile (BENCHMARKS.md). Here the publishes in
// flight are a ring indexed by sequence number, their deadlines expire in
// order (one timeout for all), and a plain PubAck is recognised without a
// JSON decoder; anything else is decoded in full.
type Forwarder struct {
	js      njs.JetStream // New's stream checks
	nc      *nats.Conn
	cfg     Config
	log     *slog.Logger
	subject string   // the subject, when it does not depend on the source
	parts   []string // the template split around {source}, when it does
	stream  string
	inbox   string // reply subjects: inbox + sequence number in base 36
	ackFast []byte // `{"stream":"NAME",`: how a plain PubAck from the stream starts
	sub     *nats.Subscription
	epoch   time.Time // deadlines are monotonic durations since epoch
	msgs    sync.Pool // *outMsg

	mu     sync.Mutex
	ring   []slot // publishes in flight, at seq & mask
	mask   uint64
	head   uint64 // the next publish's sequence number (from 1)
	tail   uint64 // the oldest sequence number that may be in flight
	n      int    // publishes in flight
	closed bool

	// acks are the confirmed messages of one burst of PubAcks, acknowledged
	// together when the subscription has no further PubAck queued, so that
	// their replies leave in one batch (one sendmmsg). Only the
	// subscription's goroutine touches acks; held counts them for Close and
	// Stats.
	acks []*udpserver.Responder
	held atomic.Int64

	stop      chan struct{} // closed by Close: the sweeper returns
	swept     chan struct{} // closed when the sweeper returned
	closeOnce sync.Once

	published, stored, duplicates, failed atomic.Uint64

	fails   failLog
	status  chan nats.Status // the connection's state changes, for the log
	watched chan struct{}    // closed when the status watcher returned
}

// slot is one publish in flight.
type slot struct {
	seq      uint64 // 0: free
	resp     *udpserver.Responder
	deadline time.Duration // since Forwarder.epoch
}

// maxAckBurst bounds how many confirmed messages wait for the end of a
// burst of PubAcks: a reply queue's worth (udpserver's is 256).
const maxAckBurst = 128

// outMsg is one message being published, reused: nats.Conn.PublishMsg
// copies the message into its buffer before it returns. Its header map
// keeps its keys from one message to the next, each mapped to a slice of
// vals, so that filling in a message of the same shape (raw or DATA, with
// or without a destination address) writes the values into vals and
// touches the map not at all.
type outMsg struct {
	m     nats.Msg
	vals  [8]string
	shape int          // shape* bits the map's keys are set for; -1: none yet
	buf   [outBuf]byte // the bytes the header values and the reply subject are strings of
}

// Shapes of a message's header set.
const (
	shapeRaw  = 1 << iota // a raw datagram: no message IDs
	shapeDest             // the destination address is known
)

// outBuf holds the header values and reply subject of any message: the
// longest are two IPv6 addresses with zones and ports, a key identity,
// the time and the inbox, well under 384 bytes.
const outBuf = 384

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
	if cfg.LogEvery == 0 {
		cfg.LogEvery = DefaultLogEvery
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("jetstream forwarder: negative timeout %v", cfg.Timeout)
	case cfg.MaxPending < 0:
		return nil, fmt.Errorf("jetstream forwarder: negative MaxPending %d", cfg.MaxPending)
	}
	f := &Forwarder{nc: nc, cfg: cfg, log: cfg.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.fails = failLog{log: f.log, every: cfg.LogEvery}
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
	js, err := njs.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream forwarder: %w", err)
	}
	f.js = js
	f.stream = cfg.Stream
	if f.stream == "" {
		f.stream, err = js.StreamNameBySubject(ctx, probe)
		if errors.Is(err, njs.ErrStreamNotFound) {
			return nil, fmt.Errorf("jetstream forwarder: %w %q (create one, e.g. nats stream add --subjects '%s' --dupe-window 2m --defaults UDPKIT)", ErrNoStream, probe, pattern)
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
	name, _ := json.Marshal(f.stream)
	f.ackFast = append(append([]byte(`{"stream":`), name...), ',')
	size := 64
	for size < 2*cfg.MaxPending {
		size <<= 1
	}
	f.ring, f.mask = make([]slot, size), uint64(size-1)
	f.head, f.tail = 1, 1
	f.epoch = time.Now()
	f.msgs.New = func() any { return &outMsg{m: nats.Msg{Header: make(nats.Header, 8)}, shape: -1} }
	f.inbox = nc.NewInbox() + "."
	// The subscription is registered before any publish on the same
	// connection, so the server knows it before the first PubAck.
	if f.sub, err = nc.Subscribe(f.inbox+"*", f.reply); err != nil {
		return nil, fmt.Errorf("jetstream forwarder: subscribing to the PubAcks: %w", err)
	}
	f.stop, f.swept = make(chan struct{}), make(chan struct{})
	f.status, f.watched = nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CONNECTED), make(chan struct{})
	go f.watch()
	go f.sweep(min(max(cfg.Timeout/8, time.Millisecond), 100*time.Millisecond))
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

// MsgID returns the Nats-Msg-Id of message id from an unauthenticated
// sender: "<address:port>/<message ID in hex>" (an IPv6 link-local address
// without its zone: the zone names an interface of the receiving server,
// which another server on the same link calls otherwise), the identity under which
// the server de-duplicates too, so that a retransmission that reaches
// another server carries the same ID. Raw datagrams (id 0) have none: they
// are not de-duplicated. Authenticated messages have KeyMsgID's.
func MsgID(sender netip.AddrPort, id uint64) string {
	if id == 0 {
		return ""
	}
	return netip.AddrPortFrom(sender.Addr().WithZone(""), sender.Port()).String() + "/" + strconv.FormatUint(id, 16)
}

// KeyMsgID returns the Nats-Msg-Id of message id from an authenticated
// sender (udpserver.Request.Authenticated): "key:<key ID in
// decimal>:<sender ID in hex>/<message ID in hex>", e.g. "key:7:3fa2/1c".
// It names the sealed identity, not the address, so a keyed device that
// changes port or address, or reaches another server, is stored once; the
// server de-duplicates under the same identity. It cannot collide with
// MsgID's, which starts with an address.
func KeyMsgID(keyID uint16, sender, id uint64) string {
	if id == 0 {
		return ""
	}
	return string(appendKeyIdentity(nil, keyID, sender)) + "/" + strconv.FormatUint(id, 16)
}

// appendKeyIdentity appends "key:<key ID>:<sender ID in hex>".
func appendKeyIdentity(b []byte, keyID uint16, sender uint64) []byte {
	b = append(b, "key:"...)
	b = strconv.AppendUint(b, uint64(keyID), 10)
	b = append(b, ':')
	return strconv.AppendUint(b, sender, 16)
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
// returns an error that NACKs busy (wire.ReasonNotStored; the cause goes
// to the log).
func (f *Forwarder) ServeUDP(ctx context.Context, r *udpserver.Request) error {
	resp, err := r.Defer()
	if err != nil {
		// Server.MaxDeferred replies wait, all of them for the stream.
		f.failed.Add(1)
		f.fails.add(causePending, err)
		return notStored
	}
	now := time.Now()
	seq, err := f.add(resp, now.Sub(f.epoch)+f.cfg.Timeout)
	if err != nil {
		f.failed.Add(1)
		f.fails.add(causePending, err)
		return notStored
	}
	o := f.msgs.Get().(*outMsg)
	f.fill(o, r, seq, now)
	err = f.nc.PublishMsg(&o.m)
	// Nothing may read o's strings once its buffer is reused.
	o.m.Data, o.m.Reply, o.vals = nil, "", [8]string{}
	f.msgs.Put(o)
	if err != nil {
		if f.take(seq) != nil {
			f.failed.Add(1)
			f.fails.add(causeRefused, err)
			f.log.Debug("jetstream forwarder: not stored", "source", r.Remote, "id", r.ID, "err", err)
			return notStored
		}
		return nil // the sweeper refused it already
	}
	f.published.Add(1)
	return nil
}

// fill makes o the message that stores r, with the reply subject of
// publish seq. The header values and the reply subject are strings over
// o.buf (no allocation): PublishMsg copies them into the connection's
// buffer before it returns, and ServeUDP clears them then, before o goes
// back to the pool. The payload is not copied either, for the same
// reason.
func (f *Forwarder) fill(o *outMsg, r *udpserver.Request, seq uint64, now time.Time) {
	// Without the zone: it names an interface of this server, which
	// another server on the link calls otherwise, and the source is part
	// of Nats-Msg-Id, which must be the same on every server.
	t := netip.AddrPortFrom(r.Remote.Addr().WithZone(""), r.Remote.Port()).AppendTo(o.buf[:0])
	src := len(t)
	idFrom := 0 // Nats-Msg-Id is all[idFrom:msgID]
	if r.Authenticated && !r.Raw {
		idFrom = src
		t = appendKeyIdentity(t, r.KeyID, r.Sender)
	}
	if !r.Raw {
		t = append(t, '/')
		t = strconv.AppendUint(t, r.ID, 16)
	}
	msgID := len(t)
	t = now.UTC().AppendFormat(t, time.RFC3339Nano)
	recv := len(t)
	t = appendID(t, r.ID) // as wire.IDString: 16 hex digits
	dec := len(t)
	if r.Local.IsValid() {
		t = r.Local.AppendTo(t)
	}
	dst := len(t)
	t = append(t, f.inbox...)
	t = strconv.AppendUint(t, seq, 36)
	var all string
	if len(t) <= len(o.buf) && &t[0] == &o.buf[0] {
		all = unsafe.String(&o.buf[0], len(t))
	} else {
		all = string(t) // longer than outBuf: appended elsewhere
	}
	shape := 0
	if r.Raw {
		shape |= shapeRaw
	}
	if r.Local.IsValid() {
		shape |= shapeDest
	}
	if shape != o.shape {
		o.setShape(shape)
	}
	m := &o.m
	m.Subject, m.Reply, m.Data = f.Subject(r.Remote.Addr()), all[dst:], r.Payload
	o.vals[0] = all[:src]
	o.vals[1] = all[dec:dst] // used only when shapeDest
	o.vals[2] = all[msgID:recv]
	o.vals[3] = f.cfg.Instance
	o.vals[7] = f.stream
	if r.Raw {
		o.vals[4] = "raw"
		return
	}
	o.vals[4] = "data"
	o.vals[5] = all[recv:dec]
	o.vals[6] = all[idFrom:msgID]
}

// setShape sets the header's keys for a message of shape, each mapped to
// its slot of vals.
func (o *outMsg) setShape(shape int) {
	h := o.m.Header
	clear(h)
	set := func(i int, k string) { h[k] = o.vals[i : i+1 : i+1] }
	set(0, HeaderSource)
	if shape&shapeDest != 0 {
		set(1, HeaderDestination)
	}
	set(2, HeaderReceived)
	set(3, HeaderInstance)
	set(4, HeaderKind)
	set(7, njs.ExpectedStreamHeader)
	if shape&shapeRaw == 0 {
		set(5, HeaderMessageID)
		set(6, njs.MsgIDHeader)
	}
	o.shape = shape
}

// add registers resp as publish number seq, due by deadline.
func (f *Forwarder) add(resp *udpserver.Responder, deadline time.Duration) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch seq := f.head; {
	case f.closed:
		return 0, errClosed
	case f.n >= f.cfg.MaxPending:
		return 0, errTooMany
	case f.ring[seq&f.mask].resp != nil:
		// An old publish still waits in this slot: the ring is twice
		// MaxPending, so this is one that waits far longer than the
		// rest, until its deadline.
		return 0, errTooMany
	default:
		f.head++
		f.ring[seq&f.mask] = slot{seq: seq, resp: resp, deadline: deadline}
		f.n++
		return seq, nil
	}
}

// take removes publish seq from the ring and returns its Responder, or nil
// if it was completed already (a late PubAck, a timeout).
func (f *Forwarder) take(seq uint64) *udpserver.Responder {
	f.mu.Lock()
	defer f.mu.Unlock()
	sl := &f.ring[seq&f.mask]
	if sl.seq != seq || seq == 0 {
		return nil
	}
	resp := sl.resp
	*sl = slot{}
	f.n--
	return resp
}

// reply runs on the subscription's goroutine for every reply to a publish.
func (f *Forwarder) reply(m *nats.Msg) {
	if seq, err := strconv.ParseUint(strings.TrimPrefix(m.Subject, f.inbox), 36, 64); err == nil {
		if resp := f.take(seq); resp != nil {
			if dup, err := f.pubAck(m); err != nil {
				f.failed.Add(1)
				f.fails.add(causeOf(err), err)
				f.log.Debug("jetstream forwarder: not stored", "source", resp.Remote(), "id", resp.ID(), "err", err)
				resp.Done(notStored)
			} else {
				f.stored.Add(1)
				if dup {
					f.duplicates.Add(1)
				}
				f.acks = append(f.acks, resp)
				f.held.Add(1)
			}
		}
	}
	if len(f.acks) == 0 {
		return
	}
	// Pending counts this message until the handler returns.
	if queued, _, err := m.Sub.Pending(); err != nil || queued <= 1 || len(f.acks) >= maxAckBurst {
		udpserver.AckAll(f.acks)
		f.held.Add(-int64(len(f.acks)))
		clear(f.acks)
		f.acks = f.acks[:0]
	}
}

// pubAck reads the reply to a publish: nil if the stream stored the
// message, duplicate if it had it already.
func (f *Forwarder) pubAck(m *nats.Msg) (duplicate bool, err error) {
	if len(m.Data) == 0 {
		if st := m.Header.Get("Status"); st == "503" {
			return false, fmt.Errorf("%w (no stream stores the subject, or JetStream is down)", nats.ErrNoResponders)
		} else if st != "" {
			return false, fmt.Errorf("reply status %s %s", st, m.Header.Get("Description"))
		}
		return false, errors.New("empty reply")
	}
	return parsePubAck(m.Data, f.ackFast, f.stream)
}

// parsePubAck reads a PubAck from the stream named stream, whose JSON
// starts with fast (`{"stream":"NAME",`): plainPubAck first, anything
// else (a domain, an error) with encoding/json.
func parsePubAck(d, fast []byte, stream string) (duplicate bool, err error) {
	if dup, ok := plainPubAck(d, fast); ok {
		return dup, nil
	}
	var pa struct {
		Error     *njs.APIError `json:"error"`
		Stream    string        `json:"stream"`
		Seq       uint64        `json:"seq"`
		Duplicate bool          `json:"duplicate"`
	}
	if err := json.Unmarshal(d, &pa); err != nil {
		return false, fmt.Errorf("malformed PubAck: %w", err)
	}
	switch {
	case pa.Error != nil:
		return false, pa.Error
	case pa.Stream != stream:
		return false, fmt.Errorf("PubAck from stream %q, not %q", pa.Stream, stream)
	case pa.Seq == 0:
		return false, errors.New("PubAck without a sequence number")
	}
	return pa.Duplicate, nil
}

// plainPubAck recognises, without a decoder, the two PubAcks a stream
// sends for a stored message: {"stream":"NAME","seq":N} and, when it had the
// message already, {"stream":"NAME","seq":N,"duplicate":true}, with or
// without the spaces nats-server 2.9 puts after some commas and colons. ok
// is false for anything else.
func plainPubAck(d, fast []byte) (duplicate, ok bool) {
	rest, ok := bytes.CutPrefix(d, fast)
	if !ok {
		return false, false
	}
	lit := func(s string) bool {
		rest = bytes.TrimLeft(rest, " ")
		var found bool
		rest, found = bytes.CutPrefix(rest, []byte(s))
		return found
	}
	if !lit(`"seq":`) {
		return false, false
	}
	rest = bytes.TrimLeft(rest, " ")
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i > 19 || rest[0] == '0' {
		return false, false
	}
	rest = rest[i:]
	switch {
	case lit("}"):
		return false, len(rest) == 0
	case lit(",") && lit(`"duplicate":`) && lit("true") && lit("}"):
		return true, len(rest) == 0
	}
	return false, false
}

// sweep refuses, every tick, the publishes whose deadline passed. They
// were registered in sequence order with one timeout, so their deadlines
// are in order too: the sweep stops at the first that is not due.
func (f *Forwarder) sweep(every time.Duration) {
	defer close(f.swept)
	t := time.NewTicker(every)
	defer t.Stop()
	var late []*udpserver.Responder
	timeout := fmt.Errorf("no PubAck from the stream within %v", f.cfg.Timeout)
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		now := time.Since(f.epoch)
		f.mu.Lock()
		for f.tail < f.head {
			if sl := &f.ring[f.tail&f.mask]; sl.seq == f.tail {
				if sl.deadline > now {
					break
				}
				late = append(late, sl.resp)
				*sl = slot{}
				f.n--
			}
			f.tail++
		}
		f.mu.Unlock()
		for i, resp := range late {
			f.failed.Add(1)
			f.fails.add(causeTimeout, timeout)
			f.log.Debug("jetstream forwarder: not stored", "source", resp.Remote(), "id", resp.ID(), "err", timeout)
			resp.Done(notStored)
			late[i] = nil
		}
		late = late[:0]
		f.fails.flush(false)
	}
}

// Stats returns the forwarder's counters.
func (f *Forwarder) Stats() Stats {
	f.mu.Lock()
	n := f.n
	f.mu.Unlock()
	return Stats{Published: f.published.Load(), Stored: f.stored.Load(), Duplicates: f.duplicates.Load(),
		Failed: f.failed.Load(), Pending: n + int(f.held.Load())}
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
		if f.Stats().Pending == 0 {
			f.shutdown(false)
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			var left []*udpserver.Responder
			f.mu.Lock()
			for i := range f.ring {
				if sl := &f.ring[i]; sl.resp != nil {
					left = append(left, sl.resp)
					*sl = slot{}
				}
			}
			f.n = 0
			f.mu.Unlock()
			for _, resp := range left {
				f.failed.Add(1)
				f.fails.add(causeClosed, errClosed)
				resp.Done(notStored)
			}
			// Draining delivers the PubAcks already queued, and with them
			// the acknowledgements held for the end of their burst.
			f.shutdown(true)
			return fmt.Errorf("jetstream forwarder: %d publishes unconfirmed: %w", len(left), ctx.Err())
		}
	}
}

// shutdown stops the sweeper and ends the subscription, once.
func (f *Forwarder) shutdown(drain bool) {
	f.closeOnce.Do(func() {
		close(f.stop)
		<-f.swept
		f.nc.RemoveStatusListener(f.status)
		<-f.watched
		f.fails.flush(true)
		if drain {
			_ = f.sub.Drain()
		} else {
			_ = f.sub.Unsubscribe()
		}
	})
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
