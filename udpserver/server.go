package udpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/internal/readloop"
	"github.com/udpkit/udpkit/wire"
)

// Defaults of the Server's configuration fields, used when a field is zero.
const (
	// DefaultDedupWindow is how long the server remembers a (source, message
	// ID) pair: EXCHANGE_LIFETIME, which covers a client's whole
	// retransmission span (PROTOCOL.md section 3).
	DefaultDedupWindow = 120 * time.Second

	// DefaultDedupEntries is the hard cap of the de-duplication table:
	// 262144 exchanges, 30 MiB at DedupBytesPerEntry (120) bytes each.
	// Entries are never dropped before their window ends, so this is also
	// the server's exactly-once throughput: at most DefaultDedupEntries
	// new messages in any DedupWindow (bursts of any speed up to that, or
	// 2184 a second sustained over 120 s, all senders together). Past it,
	// new messages get NACK busy until entries expire.
	DefaultDedupEntries = 1 << 18

	// DefaultDedupPerSource is how many entries one sender (address and
	// port: one client socket) may hold: 16384, so that a client may start
	// 16384 messages in any 120 s (136 a second sustained, bursts at any
	// speed) and at least 16 senders fit in the table. udpkit's client
	// keeps at most 1024 in flight, so a full share is 16 windows.
	DefaultDedupPerSource = 1 << 14

	// DefaultDedupPerHost is how many entries one host (IPv4 address or
	// IPv6 /64, as RateLimit counts) may hold, all its ports together: a
	// quarter of the table, so that one machine's programs, or datagrams
	// forged with its address from many ports, leave three quarters to
	// the others.
	DefaultDedupPerHost = 1 << 16

	// DefaultPort is the UDP port of a udpkit server (PROTOCOL.md section 8).
	DefaultPort = wire.DataPort

	// maxReasonLen bounds the NACK text kept in the de-duplication table.
	maxReasonLen = 256
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close.
var ErrServerClosed = errors.New("udpserver: server closed")

// Request is one message handed to a Handler: a DATA message or a raw
// datagram. A Request and its Payload are only valid until ServeUDP
// returns; the server reuses them for the next datagram, so a handler that
// keeps anything must copy it.
type Request struct {
	ID      uint64         // message ID; 0 for raw messages
	Raw     bool           // true for a datagram without the udpkit magic (nc -u, scripts)
	Payload []byte         // the DATA body or the whole raw datagram; valid only until ServeUDP returns
	Remote  netip.AddrPort // sender (IPv4-mapped IPv6 addresses are unmapped)
	Local   netip.AddrPort // address the datagram was sent to, when known (zero otherwise)

	// Authenticated is true when the server has Keys and the message
	// passed verification (PROTOCOL.md section 5): KeyID and Sender, the
	// sender ID of its trailer, then name who sealed it. Remote is still
	// only what the IP header claims. Zero without Keys.
	Authenticated bool
	KeyID         uint16
	Sender        uint64

	ex *exchange // for Defer; nil outside a handler call
}

// Handler handles the messages a Server accepts. ServeUDP runs at most once
// per (sender address and port, message ID) within the server's
// de-duplication window; with Keys, once per (key ID, sender ID, message
// ID), and never for a replay. Returning nil acknowledges the message (ACK, or
// "ack\n" for a raw datagram); returning an error refuses it with a NACK
// whose code and text come from a *RejectError in err's chain, or code
// wire.CodeRejected and err.Error() as text. The server sends the reply
// only after ServeUDP returned, so the acknowledgement means "handled";
// a handler that calls Request.Defer replies later instead.
//
// ServeUDP may be called concurrently from several goroutines (one per
// socket and worker) and must be safe for that.
type Handler interface {
	ServeUDP(ctx context.Context, r *Request) error
}

// HandlerFunc adapts an ordinary function to a Handler.
type HandlerFunc func(ctx context.Context, r *Request) error

// ServeUDP calls f(ctx, r).
func (f HandlerFunc) ServeUDP(ctx context.Context, r *Request) error { return f(ctx, r) }

// RejectError is an error a Handler returns to choose the NACK's code and
// text. It may be wrapped; the server finds it with errors.As.
type RejectError struct {
	Code   wire.Code // reason code; zero means wire.CodeRejected
	Reason string    // UTF-8 text for the NACK, cut to fit the reply
}

// Error returns the reason, or the code's name when the reason is empty.
func (e *RejectError) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	return e.code().String()
}

func (e *RejectError) code() wire.Code {
	if e.Code == wire.CodeNone {
		return wire.CodeRejected
	}
	return e.Code
}

// Reject returns a *RejectError with the given code and text.
func Reject(code wire.Code, reason string) error {
	return &RejectError{Code: code, Reason: reason}
}

// Server is a udpkit acknowledgement server. Its zero value is ready to use
// and accepts every message. The fields must not be changed after the first
// call to Serve or ListenAndServe.
//
// Configuration: shaped like net/http's Server, the Server is its own
// configuration (udpkit's one convention, with the struct standing for an
// XConfig): every zero field stands for its documented default, and
// DefaultServer returns a Server with those defaults spelled out.
//
// Execution model: each socket is served by Workers goroutines; each of
// them reads one datagram, runs the handler inline, sends the reply and
// reads the next. Nothing is allocated per datagram on this path.
type Server struct {
	// Handler handles DATA and raw messages. Nil accepts everything.
	Handler Handler

	// Logger receives the server's diagnostics (socket errors, handler
	// panics; malformed datagrams at debug level). Nil is silent.
	Logger *slog.Logger

	// DisableRaw drops (and counts in Stats.RawDropped) datagrams without
	// the udpkit magic instead of handing them to the handler and answering
	// "ack\n". Default false: raw mode on.
	DisableRaw bool

	// MaxDatagram is the largest datagram accepted, in bytes, between
	// wire.HeaderLen and wire.MaxDatagram. A larger DATA gets NACK "too
	// large" (16 bytes, so it never amplifies); other larger datagrams are
	// dropped. Default wire.DefaultMaxDatagram (1472).
	MaxDatagram int

	// DedupWindow is how long a (source, message ID) pair is remembered.
	// Default DefaultDedupWindow (120 s, EXCHANGE_LIFETIME).
	DedupWindow time.Duration

	// DedupEntries is the hard cap of the de-duplication table, in
	// exchanges (DedupBytesPerEntry bytes each: the default 262144 is 30
	// MiB). An exchange is remembered for the whole DedupWindow and never
	// dropped to make room: when the table is full, a new message gets
	// NACK busy (Stats.Busy) and the client tries again later. Default
	// DefaultDedupEntries.
	//
	// With cookies, exchanges of senders that did not prove their address
	// hold at most 3/4 of it (DedupEntries - DedupEntries/4); a new one
	// past that gets a cookie NACK (or busy "table full" without budget),
	// and the rest is kept for proved senders, so that datagrams forged
	// from many addresses cannot lock every client out (PROTOCOL.md 3).
	DedupEntries int

	// DedupPerSource is the most entries one sender (address and port)
	// may hold; past it, that sender's new messages get NACK busy while
	// its earlier ones are still answered from the table. Default
	// DefaultDedupPerSource (16384).
	DedupPerSource int

	// DedupPerHost is the most entries one host (IPv4 address or IPv6
	// /64) may hold over all its ports; past it, its new messages get
	// NACK busy. Default DefaultDedupPerHost (65536).
	//
	// With cookies (a RateLimit, no Keys) both shares are kept twice:
	// exchanges whose DATA echoed a valid cookie count in the proved
	// sender's and host's shares, the others in the shares their source
	// address claims, which forgeries can fill; an unproved new message
	// over a claimed share gets a cookie NACK instead of busy while the
	// cookie budgets last (PROTOCOL.md 3.1, Stats.DedupCookies).
	DedupPerHost int

	// Workers is the number of goroutines that read, handle and answer
	// datagrams on each socket. Default 1: messages from one socket are
	// handled one at a time, in arrival order. Raise it when the handler
	// blocks (disk, network) and order does not matter.
	Workers int

	// BatchSize is how many datagrams a worker reads with one system call
	// (recvmmsg) and how many replies it sends with one (sendmmsg), for a
	// *net.UDPConn on Linux. The replies to a batch leave together after
	// the handler ran for each of its datagrams, so a handler that blocks
	// delays the replies to the whole batch. Default DefaultBatchSize (64)
	// on Linux with one worker, and 1 with several (Workers > 1 says the
	// handler blocks); 1 reads and answers one datagram at a time, the
	// only way elsewhere and for other PacketConns.
	BatchSize int

	// Sockets is how many sockets serve each address given to Serve, for
	// a *net.UDPConn on Linux: Serve sets SO_REUSEPORT on the socket it is
	// given and opens Sockets-1 more on the same address, each with its own
	// receive queue and its own Workers. A classic BPF program
	// (SO_ATTACH_REUSEPORT_CBPF) spreads sources across them by a hash of
	// the source address alone (IPv4 address, IPv6 /64), so that one host
	// always lands on one socket, whatever its ports: a flooding host fills
	// only its own socket's queue and the other sockets keep serving the
	// other hosts (SECURITY.md, BENCHMARKS.md "Floods"). It also helps
	// when the server has several cores to spare and traffic comes from
	// many hosts. Default 1.
	Sockets int

	// SpreadByTuple leaves the choice of socket among Sockets to the
	// kernel's hash of the source and destination addresses and ports
	// instead of the source address alone: one host's many ports then
	// spread over every socket (and so does its flood). Default false.
	SpreadByTuple bool

	// DisableQuarantine turns off the quarantine socket. With Sockets > 1
	// and the source-spreading program (no SpreadByTuple), the server
	// opens one more socket on the address, and when a source (IPv4
	// address, IPv6 /64) floods its socket (it sends over a sixteenth of
	// that socket's datagrams, faster than 2500 a second, while the socket
	// cannot keep up: the kernel drops or its queue is almost full), the
	// program is replaced by one that sends that source to the quarantine
	// socket, where it is still served (at most 20000 datagrams a second
	// for all jailed sources, per worker, so that their floods leave the CPU to the
	// others) but no longer shares a queue with the hosts the hash put
	// with it. It is
	// released after 15 s without flooding; at most 64 sources are jailed
	// at once (the one heavy least recently makes room). Stats.Jailed and
	// JailedTotal count them; an info line is logged for each jail and
	// release. Default false: the quarantine is on (SECURITY.md, "Floods").
	DisableQuarantine bool

	// SpreadMultiplier is the multiplier of the source-spreading hash
	// (made odd). Default 0: a random one for each Serve, so that which
	// socket (and so which hosts' queue) a host shares is not predictable
	// from its address. Set it only to reproduce a placement, as
	// bench/floodbench does.
	SpreadMultiplier uint32

	// RateLimit is how many datagrams a second each source may send
	// (an IPv4 address, or the /64 prefix of an IPv6 address): DATA, PING
	// and raw text. It is checked before de-duplication and the handler,
	// right after the parse; malformed datagrams are dropped before it,
	// for the cost of the parse (Stats.Malformed). Over the limit,
	// a DATA gets NACK "rate limited" (16 bytes, never more than the
	// request) at most once a second per source and everything else is
	// dropped; Stats.RateLimited counts them. Default 0: no limit.
	RateLimit float64

	// DisableCookies turns off the cookies of a server with a RateLimit
	// and no Keys (PROTOCOL.md section 3.1, SECURITY.md). With them on, a
	// DATA over its source's limit may get, instead of silence, a NACK
	// "rate limited" carrying a cookie (24 bytes, sent only in answer to a
	// DATA at least as long) that the client echoes to prove it receives
	// at its address; DATA with a valid cookie are then counted in a
	// bucket of their own host's, which datagrams forged with its address
	// cannot empty. Clients that do not know cookies ignore the NACK
	// (PROTOCOL.md section 1: an unknown flag) and retransmit as after a
	// loss. Default false: cookies on.
	DisableCookies bool

	// CookieRate is how many cookie NACKs a second the server sends at
	// most, all sources together. Default DefaultCookieRate (2000).
	CookieRate float64

	// RateBurst is how many datagrams a source may send at once, above
	// its RateLimit (the token bucket's depth). Default RateLimit/5,
	// rounded up: a fifth of a second's worth.
	RateBurst int

	// RateSources is the hard cap of the rate-limit table; when it is
	// full the source heard from least recently is forgotten (and starts
	// again with a full burst). Default DefaultRateSources (16384).
	RateSources int

	// Keys turns authentication on (PROTOCOL.md section 5, SECURITY.md):
	// the server then verifies every datagram before anything else (rate
	// limit and de-duplication included) and drops, unanswered, every one
	// that is not authenticated with one of these keys, fresh and not
	// replayed: raw text, unauthenticated messages, bad tags, unknown key
	// IDs, replays, stale or future times (Stats.Unauthenticated, BadTag,
	// Replayed, Stale, AuthSendersFull). Replies are sealed with the key of
	// their request. De-duplication and RateLimit are then keyed by the
	// authenticated identity (key ID and sender ID) instead of the source
	// address, and DedupPerHost bounds each key ID. Nil (the default):
	// no authentication, and every datagram with the AUTH flag is dropped
	// (Stats.AuthUnsupported).
	Keys *auth.Keyring

	// MaxDeferred is how many replies handlers may have deferred
	// (Request.Defer) and not yet completed at once; past it Defer fails
	// with NACK busy. Default DefaultMaxDeferred (4096).
	MaxDeferred int

	// MeasureHandlers records how long each handler run takes in
	// Stats.HandlerTime, for a latency histogram (udpserver/metrics). It
	// costs two clock reads per handled datagram. Default false.
	MeasureHandlers bool

	initOnce sync.Once
	cfg      config
	log      *slog.Logger
	dedup    *dedupTable
	rates    *rateTable // nil without a RateLimit
	cookies  *cookieJar // nil without a RateLimit, with Keys or DisableCookies
	deferred deferrals
	stats    counters
	start    time.Time
	clock    func() int64     // test hook: replaces now
	wall     func() time.Time // test hook: the clock of authentication (time.Now)
	recv     *auth.Receiver   // nil without Keys
	signer   *auth.Sender     // seals replies; nil without Keys

	// Rate-limited logs, one budget per kind (log.go).
	logMalformed, logWrite, logPanic, logDrop logLimiter

	ctx    context.Context // handlers' context; canceled by Close
	cancel context.CancelFunc

	logRead logLimiter // failed reads (readFailed), besides the kinds above
	logJail logLimiter // sources jailed and released (jail.go)

	jailHold time.Duration // test hook: how long a source stays jailed (defaultJailHold)
	jails    []*jailGroup  // every group's jail, under mu

	mu       sync.Mutex
	conns    map[net.PacketConn]conn // each socket and its I/O layer
	closed   bool                    // Shutdown or Close was called
	wg       sync.WaitGroup          // running workers
	done     chan struct{}           // closed by Shutdown and Close
	doneOnce sync.Once
}

// DefaultServer returns a Server with every default of its fields spelled
// out (udpkit's convention, after memberlist's DefaultLANConfig): start
// from it to change one value. It serves exactly as a zero Server does.
// BatchSize and RateBurst stay 0: their defaults follow Workers and
// RateLimit; Handler and Logger stay nil (accept everything, silent).
func DefaultServer() *Server {
	return &Server{
		MaxDatagram:    wire.DefaultMaxDatagram,
		DedupWindow:    DefaultDedupWindow,
		DedupEntries:   DefaultDedupEntries,
		DedupPerSource: DefaultDedupPerSource,
		DedupPerHost:   DefaultDedupPerHost,
		Workers:        1,
		Sockets:        1,
		RateSources:    DefaultRateSources,
		MaxDeferred:    DefaultMaxDeferred,
	}
}

// config is the resolved copy of the Server's fields.
type config struct {
	handler        Handler
	disableRaw     bool
	maxDatagram    int
	dedupWindow    time.Duration
	dedupEntries   int
	dedupPerSource int
	dedupPerHost   int
	workers        int
	batchSize      int
	sockets        int
	measure        bool  // MeasureHandlers
	err            error // invalid configuration
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		c := config{
			handler:        s.Handler,
			disableRaw:     s.DisableRaw,
			maxDatagram:    s.MaxDatagram,
			dedupWindow:    s.DedupWindow,
			dedupEntries:   s.DedupEntries,
			dedupPerSource: s.DedupPerSource,
			dedupPerHost:   s.DedupPerHost,
			workers:        s.Workers,
			batchSize:      s.BatchSize,
			sockets:        max(s.Sockets, 1),
			measure:        s.MeasureHandlers,
		}
		if c.maxDatagram == 0 {
			c.maxDatagram = wire.DefaultMaxDatagram
		}
		if c.dedupWindow == 0 {
			c.dedupWindow = DefaultDedupWindow
		}
		if c.dedupEntries == 0 {
			c.dedupEntries = DefaultDedupEntries
		}
		if c.dedupPerSource == 0 {
			c.dedupPerSource = DefaultDedupPerSource
		}
		if c.dedupPerHost == 0 {
			c.dedupPerHost = DefaultDedupPerHost
		}
		c.dedupPerSource = min(c.dedupPerSource, c.dedupEntries)
		c.dedupPerHost = min(c.dedupPerHost, c.dedupEntries)
		if c.workers == 0 {
			c.workers = 1
		}
		if c.batchSize == 0 {
			c.batchSize = 1
			if batchSupported && c.workers == 1 {
				c.batchSize = DefaultBatchSize
			}
		}
		switch {
		case c.maxDatagram < wire.HeaderLen || c.maxDatagram > wire.MaxDatagram:
			c.err = fmt.Errorf("udpserver: MaxDatagram %d out of range [%d, %d]", c.maxDatagram, wire.HeaderLen, wire.MaxDatagram)
		case c.dedupWindow < 0:
			c.err = fmt.Errorf("udpserver: negative DedupWindow %v", c.dedupWindow)
		case c.dedupEntries < 0 || c.dedupEntries > 1<<30:
			c.err = fmt.Errorf("udpserver: DedupEntries %d out of range [1, %d]", c.dedupEntries, 1<<30)
		case c.dedupPerSource < 0 || c.dedupPerHost < 0:
			c.err = fmt.Errorf("udpserver: negative DedupPerSource %d or DedupPerHost %d", c.dedupPerSource, c.dedupPerHost)
		case c.workers < 0:
			c.err = fmt.Errorf("udpserver: negative Workers %d", c.workers)
		case s.Sockets < 0 || s.Sockets > 1024:
			c.err = fmt.Errorf("udpserver: Sockets %d out of range [1, 1024]", s.Sockets)
		case s.RateLimit < 0 || s.RateLimit != s.RateLimit || s.RateLimit > 1e9:
			c.err = fmt.Errorf("udpserver: RateLimit %v out of range [0, 1e9]", s.RateLimit)
		case s.CookieRate < 0 || s.CookieRate != s.CookieRate || s.CookieRate > 1e9:
			c.err = fmt.Errorf("udpserver: CookieRate %v out of range [0, 1e9]", s.CookieRate)
		case s.RateBurst < 0 || s.RateSources < 0:
			c.err = fmt.Errorf("udpserver: negative RateBurst %d or RateSources %d", s.RateBurst, s.RateSources)
		case c.batchSize < 0 || c.batchSize > 1024:
			c.err = fmt.Errorf("udpserver: BatchSize %d out of range [1, 1024]", c.batchSize)
		case s.Keys != nil && c.maxDatagram < wire.MinAuthLen:
			c.err = fmt.Errorf("udpserver: MaxDatagram %d cannot hold an authenticated datagram (%d bytes at least)", c.maxDatagram, wire.MinAuthLen)
		}
		s.cfg = c
		s.log = s.Logger
		if s.log == nil {
			s.log = slog.New(slog.DiscardHandler)
		}
		s.start = time.Now()
		if s.Keys != nil && c.err == nil {
			c.err = s.initAuth()
			s.cfg.err = c.err
		}
		if s.RateLimit > 0 && c.err == nil {
			burst := s.RateBurst
			if burst == 0 {
				burst = max(1, int(math.Ceil(s.RateLimit/5)))
			}
			sources := s.RateSources
			if sources == 0 {
				sources = DefaultRateSources
			}
			s.rates = newRateTable(s.RateLimit, burst, sources)
			if s.Keys == nil && !s.DisableCookies {
				rate := s.CookieRate
				if rate == 0 {
					rate = DefaultCookieRate
				}
				s.cookies, c.err = newCookieJar(rate)
				s.cfg.err = c.err
			}
		}
		// With cookies a quarter of the table is kept for proved senders.
		s.dedup = newDedupTable(c.dedupEntries, c.dedupPerSource, c.dedupPerHost, c.dedupWindow, s.cookies != nil)
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.conns = make(map[net.PacketConn]conn)
		s.done = make(chan struct{})
	})
}

// now is the server's monotonic clock in nanoseconds since it started.
func (s *Server) now() int64 {
	if s.clock != nil {
		return s.clock()
	}
	return int64(time.Since(s.start))
}

// Serve reads datagrams from pc and answers them until Shutdown or Close,
// then returns ErrServerClosed. The server owns pc from then on and closes
// it when it stops. Serve may be called for several sockets at once (an
// IPv4 and an IPv6 one, say); they share the handler, the de-duplication
// table and the counters.
//
// For a *net.UDPConn, Serve asks for the destination address of each
// datagram (IP_PKTINFO / IPV6_RECVPKTINFO) so that on a wildcard bind the
// reply leaves from the address the request was sent to. Other PacketConn
// implementations are served through ReadFrom and WriteTo.
func (s *Server) Serve(pc net.PacketConn) error {
	s.init()
	if s.cfg.err != nil {
		pc.Close()
		return s.cfg.err
	}
	pcs := []net.PacketConn{pc}
	var jail *jailGroup
	if s.cfg.sockets > 1 {
		more, g, err := s.reusePortSiblings(pc)
		if err != nil {
			pc.Close()
			return err
		}
		pcs, jail = append(pcs, more...), g
	}
	if len(pcs) == 1 {
		return s.serve(pc, nil, false)
	}
	if jail != nil {
		s.mu.Lock()
		s.jails = append(s.jails, jail)
		s.mu.Unlock()
		defer jail.close()
	}
	errs := make(chan error, len(pcs))
	for i, pc := range pcs {
		quarantine := jail != nil && i == len(pcs)-1
		go func() { errs <- s.serve(pc, jail, quarantine) }()
	}
	var err error
	for range pcs {
		e := <-errs
		if err == nil && !errors.Is(e, ErrServerClosed) {
			err = e
			for _, pc := range pcs {
				pc.Close() // one socket failed for good: stop them all
			}
		}
	}
	if err == nil || s.isClosing() {
		return ErrServerClosed
	}
	return err
}

// serve serves one socket with Workers workers. With a jail, each worker
// watches for flooding sources (quarantine: pc is the jail's socket).
func (s *Server) serve(pc net.PacketConn, jail *jailGroup, quarantine bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		pc.Close()
		return ErrServerClosed
	}
	c := newConn(pc, s.log)
	s.conns[pc] = c
	s.wg.Add(s.cfg.workers)
	s.mu.Unlock()

	q := newReplyQueue(s, c)
	worker := func() error {
		jw := s.watch(pc, jail, quarantine)
		if bc := newBatchConn(c, s.cfg.batchSize, s.cfg.maxDatagram); bc != nil {
			for _, p := range bc.packets() {
				p.c, p.rq = c, q
			}
			return s.serveBatch(bc, jw)
		}
		return s.serveWorker(c, q, jw)
	}
	errs := make(chan error, s.cfg.workers)
	for range s.cfg.workers - 1 {
		go func() { errs <- worker() }()
	}
	err := worker()
	for range s.cfg.workers - 1 {
		if e := <-errs; err == nil {
			err = e
		}
	}
	s.mu.Lock()
	delete(s.conns, pc)
	closed := s.closed
	s.mu.Unlock()
	s.waitDeferred()
	q.close()
	pc.Close() // the workers are gone and no reply is deferred: every reply has been sent
	if closed {
		return ErrServerClosed
	}
	return err
}

// serveWorker is one read-handle-reply loop on c.
func (s *Server) serveWorker(c conn, q *replyQueue, jw *jailWatch) error {
	defer s.wg.Done()
	p := newPacket(s.cfg.maxDatagram)
	p.c, p.rq = c, q
	reply := make([]byte, 0, max(s.cfg.maxDatagram, wire.HeaderLen+maxReasonLen))
	w := newWorker(s)
	var backoff readBackoff
	for {
		err := c.read(p)
		if err != nil {
			if err := s.readFailed(&backoff, err); err != nil {
				return err
			}
			continue
		}
		backoff = 0
		if jw != nil {
			jw.observe(p.remote)
		}
		out := w.process(s.ctx, p, reply)
		w.done()
		if out == nil {
			continue
		}
		if err := c.write(p, out); err != nil && !s.isClosing() {
			s.stats.writeErrors.Add(1)
			s.logLimited(&s.logWrite, slog.LevelWarn, "udpserver: write failed", "to", p.remote, "err", err)
		}
	}
}

// watch returns a worker's flood detector for pc, nil without a jail (or
// when the kernel does not report pc's queue: the worker then serves
// without one, and says so).
func (s *Server) watch(pc net.PacketConn, jail *jailGroup, quarantine bool) *jailWatch {
	if jail == nil {
		return nil
	}
	var jw *jailWatch
	sc, ok := pc.(syscall.Conn)
	err := fmt.Errorf("udpserver: quarantine: %T has no file descriptor", pc)
	if ok {
		var rc syscall.RawConn
		if rc, err = sc.SyscallConn(); err == nil {
			jw, err = newJailWatch(jail, rc, quarantine)
		}
	}
	if err != nil {
		s.log.Warn("udpserver: this socket's worker will not detect floods", "err", err)
	}
	return jw
}

// readBackoff is how long a worker waits after a failed read: the one
// read-loop discipline of internal/readloop (5 ms doubling to 1 s), so that
// a broken socket is never hot-looped.
type readBackoff = readloop.Backoff

// readFailed handles a read error: it returns ErrServerClosed (or the
// socket's own closing error) when the worker must stop, or nil after
// counting, logging (within readloop's budget) and waiting out the
// back-off.
func (s *Server) readFailed(b *readBackoff, err error) error {
	if s.isClosing() {
		return ErrServerClosed
	}
	if errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("udpserver: socket closed: %w", err)
	}
	s.stats.readErrors.Add(1)
	d := b.Next()
	s.logLimited(&s.logRead, slog.LevelWarn, "udpserver: read failed; backing off", "err", err, "backoff", d)
	if !readloop.Pause(s.done, d) {
		return ErrServerClosed
	}
	return nil
}

func (s *Server) isClosing() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// ListenAndServe opens a UDP socket on addr (host:port; an empty host means
// every address, as with net.ListenUDP) and serves it until Shutdown or
// Close, or until ctx is done, which shuts the server down gracefully
// (running handlers finish and are answered). It returns ErrServerClosed
// then, or the error that prevented it from listening.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	s.init()
	if s.cfg.err != nil {
		return s.cfg.err
	}
	if s.isClosing() {
		return ErrServerClosed
	}
	pc, err := Listen(ctx, addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { s.Shutdown(context.WithoutCancel(ctx)) })
	defer stop()
	return s.Serve(pc)
}

// Listen opens a UDP socket for a Server on addr (host:port). An IPv4
// literal host opens an IPv4 socket, an IPv6 literal an IPv6-only socket,
// an empty host a dual-stack wildcard socket and a name whatever it
// resolves to first. To serve one address with several SO_REUSEPORT
// sockets, set Server.Sockets (the one way: it opens the siblings).
func Listen(ctx context.Context, addr string) (*net.UDPConn, error) {
	network := "udp"
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil {
			if ip.Is4() {
				network = "udp4"
			} else {
				network = "udp6"
			}
		}
	}
	var nlc net.ListenConfig
	pc, err := nlc.ListenPacket(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("udpserver: listen: %w", err)
	}
	return pc.(*net.UDPConn), nil
}

// Shutdown stops the server gracefully: it stops reading from every socket,
// waits until the running handlers have returned and their replies are
// sent, closes the sockets and returns. If ctx ends first, Shutdown closes
// everything at once (as Close) and returns ctx's error. Serve returns
// ErrServerClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closed = true
	s.doneOnce.Do(func() { close(s.done) })
	past := time.Unix(1, 0)
	for pc, c := range s.conns {
		stopReads(c)             // wakes the readers asleep in the kernel
		pc.SetReadDeadline(past) // and those in the poller; they see s.done
	}
	s.mu.Unlock()

	idle := make(chan struct{})
	go func() { s.wg.Wait(); s.waitDeferred(); close(idle) }()
	select {
	case <-idle:
		s.closeConns()
		s.cancel()
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close stops the server at once: it closes every socket and cancels the
// context of running handlers, whose replies are lost. Serve returns
// ErrServerClosed.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	s.closed = true
	s.doneOnce.Do(func() { close(s.done) })
	s.mu.Unlock()
	s.cancel()
	return s.closeConns()
}

func (s *Server) closeConns() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for pc, c := range s.conns {
		stopReads(c) // a reader asleep in the kernel would hold Close up
		if err := pc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
		delete(s.conns, pc)
	}
	return errors.Join(errs...)
}
