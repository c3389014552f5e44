package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/internal/netaddr"
	"github.com/udpkit/udpkit/wire"
)

// DefaultDiscoverTime is how long DialService browses for servers when
// ServiceConfig.DiscoverTime is zero.
const DefaultDiscoverTime = time.Second

// ErrNoServer: DialService found no server of the service, or every
// server failed a message.
var ErrNoServer = errors.New("no server")

// ServiceConfig configures DialService and NewServiceClient. Its zero
// value works: zero fields take the defaults DefaultServiceConfig spells
// out.
type ServiceConfig struct {
	// Client configures the exchange with each server (timeouts, retries,
	// Window: messages in flight at once in SendAll). Zero fields take
	// DefaultConfig's values.
	Client Config
	// Interfaces selects the interfaces to browse on (netif syntax).
	// Default: the netif default selection.
	Interfaces []string
	// DiscoverTime is how long DialService browses. Default
	// DefaultDiscoverTime.
	DiscoverTime time.Duration
	// Servers stops the browse as soon as that many servers were found.
	// Default 0: browse for DiscoverTime.
	Servers int
	// TriesPerServer is how many unanswered transmissions of a message one
	// server gets before the message moves to the next, so that a server
	// that went silent costs each message a few timeouts, not its whole
	// retry budget. Default DefaultTriesPerServer.
	TriesPerServer int
}

// DefaultTriesPerServer is ServiceConfig.TriesPerServer's default: a
// silent server is left after two timeouts (under a second at the
// default timeouts).
const DefaultTriesPerServer = 2

// DefaultServiceConfig returns the configuration the zero ServiceConfig
// stands for.
func DefaultServiceConfig() ServiceConfig {
	return ServiceConfig{Client: DefaultConfig(), DiscoverTime: DefaultDiscoverTime, TriesPerServer: DefaultTriesPerServer}
}

// ServiceResult is the outcome of one message sent through a
// ServiceClient.
type ServiceResult struct {
	Result
	// Server is the instance name of the server that answered last (the
	// one that acknowledged the message, when it was).
	Server string
	// Addr is that server's address.
	Addr netip.AddrPort
	// Failovers is how many servers failed the message before: timed out,
	// refused it (nothing listening) or answered NACK busy.
	Failovers int
}

// A ServiceClient sends messages to the servers of one service and fails
// over between them. All its messages go to one server at a time; when a
// message times out there, is refused (ICMP port unreachable) or gets NACK
// busy, it is retransmitted to the next server with the *same* message ID,
// from the *same* source address and port, and later messages follow it
// there. A server that stores messages in a shared stream de-duplicating
// by sender and message ID (forward/jetstream) thus stores a message once
// even when the first server had stored it but its ACK was lost.
//
// The source port is kept by binding every server's socket to the same
// local port (SO_REUSEADDR, each socket connected to its server). Servers
// are reached in one address family, the one most of them have (IPv4 on a
// tie), so that the source address stays the same on one LAN; a server
// reachable only in the other family is tried after all the others, and a
// message retransmitted to it leaves from another address: a stream that
// de-duplicates by sender may then store it twice (with keys the sender is
// the key's identity, whatever the address).
type ServiceClient struct {
	cfg     ServiceConfig
	ccfg    Config
	servers []discovery.Instance
	addrs   []netip.AddrPort // the address used for each server

	nextID atomic.Uint64

	mu      sync.Mutex
	cur     int       // the server messages go to now
	clients []*Client // dialed lazily
	port    uint16    // the local port every socket binds, once known
	closed  bool
}

// DialService browses for the servers of service (such as "_udpkit._udp")
// for ServiceConfig.DiscoverTime, or until ServiceConfig.Servers were
// found whose names no other source claims, and returns a ServiceClient for
// them, in the order they answered, those with a contested name
// (Instance.Conflict) after all the others.
// It fails with ErrNoServer when none answered.
func DialService(ctx context.Context, service string, cfg ServiceConfig) (*ServiceClient, error) {
	if err := wire.ValidateService(service); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	// The client's keys browse too: a keyed client looks for keyed
	// servers, and sees no unauthenticated (possibly forged) answer.
	b, err := discovery.NewBrowser(discovery.BrowserConfig{Interfaces: cfg.Interfaces, Keys: cfg.Client.Keys})
	if err != nil {
		return nil, fmt.Errorf("client: browse %s: %w", service, err)
	}
	defer b.Close()
	wait := cfg.DiscoverTime
	if wait <= 0 {
		wait = DefaultDiscoverTime
	}
	bctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var found []discovery.Instance
	settled := 0 // servers found whose name nobody else claims
	err = b.Browse(bctx, service, func(in discovery.Instance) {
		found = append(found, in)
		if !in.Conflict {
			settled++
		}
		if cfg.Servers > 0 && settled >= cfg.Servers {
			cancel()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("client: browse %s: %w", service, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("client: browse %s: %w", service, err)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("client: %w of %s answered within %v", ErrNoServer, service, wait)
	}
	return NewServiceClient(uncontestedFirst(found), cfg)
}

// uncontestedFirst orders found servers so that those whose name another
// source also claims (Instance.Conflict: without keys a forger that
// answers faster than the real server is one of them, PROTOCOL.md 6.6)
// come after every uncontested one, each group in the order found. A
// Browser reports a claimant heard after the name's first report later,
// and repeats the first report marked: every report of a name that one
// report marks is taken as contested, and a repeated report (same name
// and source) is kept once, where it came first.
func uncontestedFirst(found []discovery.Instance) []discovery.Instance {
	key := func(in discovery.Instance) string {
		return wire.FoldCase(in.Service) + "\x00" + wire.FoldCase(in.Instance) + "\x00" + in.Interface
	}
	contested := map[string]bool{}
	for _, in := range found {
		if in.Conflict {
			contested[key(in)] = true
		}
	}
	type seenKey struct {
		name string
		src  netip.AddrPort
	}
	seen := map[seenKey]bool{}
	out := found[:0]
	for _, in := range found {
		k := key(in)
		if seen[seenKey{k, in.Source}] {
			continue
		}
		seen[seenKey{k, in.Source}] = true
		in.Conflict = in.Conflict || contested[k]
		out = append(out, in)
	}
	found = out
	slices.SortStableFunc(found, func(a, b discovery.Instance) int {
		switch {
		case a.Conflict == b.Conflict:
			return 0
		case b.Conflict:
			return -1
		}
		return 1
	})
	return found
}

// NewServiceClient returns a ServiceClient for servers (found by a
// discovery.Browser, or listed by hand with Instance and Addrs set), tried
// in that order. It opens no socket until the first message.
func NewServiceClient(servers []discovery.Instance, cfg ServiceConfig) (*ServiceClient, error) {
	s := &ServiceClient{cfg: cfg, ccfg: cfg.Client}
	// One family for all, the one most servers have (IPv4 on a tie): the
	// source address is part of the sender's identity (a stream
	// de-duplicating by sender stores a message twice when its
	// retransmission to the next server leaves from another address), so
	// servers reachable only in the other family come last.
	n4, n6 := 0, 0
	for _, in := range servers {
		if ap, ok := pickAddr(in.Addrs, true); ok && ap.Addr().Is4() {
			n4++
		}
		if ap, ok := pickAddr(in.Addrs, false); ok && !ap.Addr().Is4() {
			n6++
		}
	}
	want4 := n4 >= n6
	for _, same := range []bool{true, false} {
		for _, in := range servers {
			if ap, ok := pickAddr(in.Addrs, want4); ok && (ap.Addr().Is4() == want4) == same {
				s.servers = append(s.servers, in)
				s.addrs = append(s.addrs, ap)
			}
		}
	}
	if len(s.servers) == 0 {
		return nil, fmt.Errorf("client: %w: no server with a usable address", ErrNoServer)
	}
	s.clients = make([]*Client, len(s.servers))
	s.nextID.Store(startID())
	return s, nil
}

// pickAddr chooses the address to reach a server by: the first of the
// family asked for, else a global one, else any.
func pickAddr(addrs []netip.AddrPort, want4 bool) (netip.AddrPort, bool) {
	var fallback netip.AddrPort
	for _, ap := range addrs {
		a := ap.Addr().Unmap()
		if !ap.IsValid() || ap.Port() == 0 || a.IsUnspecified() || a.IsMulticast() {
			continue
		}
		ap = netip.AddrPortFrom(a, ap.Port())
		if a.Is4() == want4 {
			return ap, true
		}
		if !fallback.IsValid() || (fallback.Addr().IsLinkLocalUnicast() && !a.IsLinkLocalUnicast()) {
			fallback = ap
		}
	}
	return fallback, fallback.IsValid()
}

// Servers returns the servers the client fails over between, in order.
func (s *ServiceClient) Servers() []discovery.Instance { return slices.Clone(s.servers) }

// Send sends payload to the current server and fails over to the next
// ones, as the type's comment says, until one acknowledges it or refuses it
// for good (a NACK other than busy, ErrTooLarge). A server gets at most
// ServiceConfig.TriesPerServer unanswered transmissions of the message
// before it moves on; the back-off is the message's, doubling from server
// to server. Config.Retries is the budget of the whole message: at most
// Retries+1 transmissions across all servers, within ExchangeLifetime.
// When every server failed it at once (NACK busy, refused), it waits the
// current timeout before going round again. When the budget is spent it
// returns the last server's error, with ErrNoServer in its chain.
func (s *ServiceClient) Send(ctx context.Context, payload []byte) (ServiceResult, error) {
	return s.send(ctx, s.nextID.Add(1)-1, payload)
}

func (s *ServiceClient) send(ctx context.Context, id uint64, payload []byte) (ServiceResult, error) {
	s.mu.Lock()
	start := s.cur
	s.mu.Unlock()
	rc := s.ccfg.resolve()
	n := len(s.servers)
	tries := s.cfg.TriesPerServer
	if tries <= 0 {
		tries = DefaultTriesPerServer
	}
	if n == 1 {
		tries = 0 // nowhere else to go: the whole budget here
	}
	var out ServiceResult
	var lastErr error
	begin := time.Now()
	v := visit{first: begin}
	fast := false // the last visit ended without waiting out a timer
	for k := 0; ; k++ {
		if out.Attempts > rc.retries || time.Since(begin) >= rc.lifetime {
			break
		}
		if k > 0 && k%n == 0 && fast {
			// Every server failed the message, the last at once (NACK busy,
			// refused): wait, as after a loss, and go round again.
			pause := v.timeout
			if pause <= 0 {
				pause = rc.initial
			}
			if time.Since(begin)+pause >= rc.lifetime {
				break
			}
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return out, fmt.Errorf("message %#x: %w", id, ctx.Err())
			}
			v.timeout = min(2*pause, rc.max)
		}
		i := (start + k) % n
		out.Server, out.Addr, out.Failovers = s.servers[i].Instance, s.addrs[i], k
		c, err := s.client(i)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return out, err
			}
			lastErr = err
			s.failed(i)
			fast = true
			if k+1 >= n && out.Attempts == 0 {
				break // no server could even be dialed
			}
			continue
		}
		busy, limited := out.Busy, out.RateLimited
		v.tries = tries
		res, err := c.sendVisit(ctx, id, payload, &v)
		out.Result = res
		out.Busy += busy
		out.RateLimited += limited
		out.Elapsed = time.Since(begin)
		if err == nil || !failover(err) || ctx.Err() != nil {
			return out, err
		}
		fast = !errors.Is(err, ErrTimeout)
		if re, ok := errors.AsType[*RejectedError](err); ok && congestion(re.Code) {
			countNack(&out.Result, re.Code)
		}
		lastErr = fmt.Errorf("%s (%v): %w", s.servers[i].Instance, s.addrs[i], err)
		s.failed(i)
	}
	return out, fmt.Errorf("client: %w left: %w", ErrNoServer, lastErr)
}

// failover reports whether err is a reason to try the next server.
func failover(err error) bool {
	if errors.Is(err, ErrTimeout) || errors.Is(err, ErrRefused) {
		return true
	}
	re, ok := errors.AsType[*RejectedError](err)
	return ok && (re.Code == wire.CodeBusy || re.Code == wire.CodeRateLimited)
}

// failed moves the current server past i, if it still is i.
func (s *ServiceClient) failed(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == i {
		s.cur = (i + 1) % len(s.servers)
	}
}

// client returns the Client of server i, dialing it on first use from the
// shared local port.
func (s *ServiceClient) client(i int) (*Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("client: %w", net.ErrClosed)
	}
	if c := s.clients[i]; c != nil {
		return c, nil
	}
	nc, err := dialFromPort(s.addrs[i], s.port)
	if err != nil && s.port != 0 {
		// The port went to someone else: a retransmission from another
		// port is another sender to the servers.
		s.ccfg.resolve().log.Warn("udpkit client: cannot keep the source port; messages retransmitted to this server count as new ones",
			"port", s.port, "server", s.addrs[i], "err", err)
		nc, err = dialFromPort(s.addrs[i], 0)
	}
	if err != nil {
		return nil, err
	}
	if s.port == 0 {
		s.port = netaddr.AddrPort(nc.LocalAddr()).Port()
	}
	c := newClient(nc, s.addrs[i], s.ccfg)
	c.busyFails = true
	s.clients[i] = c
	return c, nil
}

// dialFromPort connects a UDP socket to ap from local port (0: any), with
// SO_REUSEADDR so that sockets to other servers can share the port. The
// first socket gets SO_REUSEADDR only after the kernel chose its port, so
// that the port is one nobody else uses.
func dialFromPort(ap netip.AddrPort, port uint16) (*net.UDPConn, error) {
	var d net.Dialer
	if port != 0 {
		d.Control = reuseAddr
	}
	if ap.Addr().Is4() {
		d.LocalAddr = &net.UDPAddr{IP: net.IPv4zero, Port: int(port)}
	} else {
		d.LocalAddr = &net.UDPAddr{IP: net.IPv6unspecified, Port: int(port)}
	}
	nc, err := d.Dial("udp", ap.String())
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	uc := nc.(*net.UDPConn)
	if port == 0 {
		rc, err := uc.SyscallConn()
		if err == nil {
			err = reuseAddr("", "", rc)
		}
		if err != nil {
			uc.Close()
			return nil, fmt.Errorf("client: SO_REUSEADDR: %w", err)
		}
	}
	return uc, nil
}

// SendAll sends every payload as Send does, with up to Config.Window
// messages in flight (each retransmitted on its own timer), and calls fn
// with each outcome as it arrives, from the calling goroutine, in any
// order: i is the payload's index. It returns nil when every payload had
// its outcome, or ctx's error (wrapped) when ctx ended first, after
// reporting the messages in flight.
func (s *ServiceClient) SendAll(ctx context.Context, payloads iter.Seq[[]byte], fn func(i int, r ServiceResult, err error)) error {
	window := s.ccfg.Window
	if window <= 0 {
		window = DefaultWindow
	}
	type job struct {
		i int
		p []byte
	}
	type done struct {
		i   int
		r   ServiceResult
		err error
	}
	jobs := make(chan job)
	results := make(chan done)
	var wg sync.WaitGroup
	for range window {
		wg.Go(func() {
			for {
				select {
				case j, ok := <-jobs:
					if !ok {
						return
					}
					r, err := s.Send(ctx, j.p)
					results <- done{j.i, r, err}
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(results) }()
	// The sequence runs on its own goroutine: if it blocks (a terminal)
	// when ctx ends, SendAll returns all the same.
	go func() {
		defer close(jobs)
		i := 0
		for p := range payloads {
			select {
			case jobs <- job{i, slices.Clone(p)}:
				i++
			case <-ctx.Done():
				return
			}
		}
	}()
	for d := range results {
		fn(d.i, d.r, d.err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}

// Close closes every socket.
func (s *ServiceClient) Close() error {
	s.mu.Lock()
	s.closed = true
	cs := slices.Clone(s.clients)
	s.mu.Unlock()
	var errs []error
	for _, c := range cs {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
