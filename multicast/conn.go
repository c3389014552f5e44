package multicast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Errors that callers branch on (test with errors.Is).
var (
	// ErrNotMulticast: the group address is not a multicast address, or
	// the source of a source-specific join is not a unicast address of
	// the group's family.
	ErrNotMulticast = errors.New("multicast: not a multicast group")
	// ErrNoInterface: no interface is left to join or send on.
	ErrNoInterface = errors.New("multicast: no usable interface")
	// ErrNoMembership: the group could not be joined on any interface.
	// It wraps the per-interface errors.
	ErrNoMembership = errors.New("multicast: joined on no interface")
	// ErrTooManyGroups: the kernel's per-socket membership limit was
	// reached (Linux: sysctl net.ipv4.igmp_max_memberships, 20 by
	// default). Select fewer interfaces or raise the limit.
	ErrTooManyGroups = errors.New("multicast: per-socket membership limit reached (Linux: sysctl net.ipv4.igmp_max_memberships)")
	// ErrSSMUnsupported: the system refused a source-specific join.
	ErrSSMUnsupported = errors.New("multicast: source-specific multicast not supported here")
	// ErrClosed is returned by Read and the writes after Close.
	ErrClosed = net.ErrClosed
)

// DefaultTTL is the TTL (IPv4) or hop limit (IPv6) of multicast datagrams
// when Config.TTL is 0: 1 keeps them on the local link, as the socket API
// and iperf do.
const DefaultTTL = 1

// Config configures a Conn. The zero value joins the group any-source on
// every suitable interface, with TTL 1 and loopback off.
type Config struct {
	// Interfaces to join and send on. Default (nil): every interface that
	// is up, can multicast, is not a loopback and has an address of the
	// group's family (IPv4, or an IPv6 link-local address). A zone in
	// the group address (ff02::1%eth0) narrows the list to that one.
	Interfaces []net.Interface
	// Source makes the join source-specific (SSM, RFC 4607): only
	// datagrams from this address are received. Default (zero): any
	// source.
	Source netip.Addr
	// TTL is the TTL or hop limit of datagrams sent to the group, 1..255.
	// Default (0): DefaultTTL.
	TTL int
	// Loopback delivers the datagrams this host sends to the group to its
	// own members too. Default: false.
	Loopback bool
	// NoJoin opens the socket on the group's port without joining: it
	// receives unicast only (a peer that is not a member). Default:
	// false. Dial never joins.
	NoJoin bool
	// ReuseAddr sets SO_REUSEADDR so that other sockets of this host can
	// bind the same port (several listeners of one group). Default:
	// false.
	ReuseAddr bool
	// Logger receives membership warnings at Warn and dropped datagrams at
	// Debug. Default (nil): silent.
	Logger *slog.Logger
}

// Membership is the outcome of joining the group on one interface.
type Membership struct {
	// Interface is where the join was attempted.
	Interface net.Interface
	// Err is nil when the group was joined.
	Err error
}

// Packet describes one datagram that Read returned.
type Packet struct {
	// N is the number of bytes read into the caller's buffer.
	N int
	// Src is the sender's address and port (with the zone of the
	// arrival interface for IPv6 link-local senders).
	Src netip.AddrPort
	// Dst is the destination address: the group, or one of this host's
	// unicast addresses. Invalid when the system does not tell.
	Dst netip.Addr
	// IfIndex and Interface name the arrival interface (0 and "" when
	// the system does not tell).
	IfIndex   int
	Interface string
	// TTL is the remaining TTL (IPv4) or hop limit (IPv6) the datagram
	// arrived with; -1 when the system does not tell.
	TTL int
	// Multicast reports whether the datagram was sent to the group.
	Multicast bool
}

// Conn is a UDP socket bound to the port of one multicast group, joined on
// a set of interfaces. It sends to the group per interface, sends and
// receives unicast on the same port, and tells for every datagram on which
// interface, to which destination and with what TTL it arrived. One
// goroutine reads; writes may come from any goroutine. IPv4 and IPv6
// groups need separate Conns.
type Conn struct {
	group   netip.AddrPort
	gaddr   *net.UDPAddr
	source  netip.Addr
	pc      net.PacketConn
	p4      *ipv4.PacketConn
	p6      *ipv6.PacketConn
	ifaces  []net.Interface
	members []Membership
	ttl     int
	log     *slog.Logger

	names    sync.Map // ifindex -> name, filled lazily
	dropped  atomic.Uint64
	once     sync.Once
	closeErr error
}

// Listen opens a socket on the group's port, joins the group on the
// configured interfaces and returns it. It fails when the group is not
// multicast, when no interface is usable, or when no join succeeded; a
// join that failed on some interfaces only is reported by Memberships and
// logged. ctx bounds the setup only.
func Listen(ctx context.Context, group netip.AddrPort, cfg Config) (*Conn, error) {
	return open(ctx, group, cfg, int(group.Port()), !cfg.NoJoin)
}

// Dial opens a socket on an ephemeral port that sends to the group on the
// configured interfaces without joining it; it still receives unicast
// answers. ctx bounds the setup only.
func Dial(ctx context.Context, group netip.AddrPort, cfg Config) (*Conn, error) {
	return open(ctx, group, cfg, 0, false)
}

func open(ctx context.Context, group netip.AddrPort, cfg Config, port int, join bool) (*Conn, error) {
	g := group.Addr()
	if !g.IsMulticast() {
		return nil, fmt.Errorf("%w: %v", ErrNotMulticast, g)
	}
	g = g.Unmap()
	v6 := g.Is6()
	src := cfg.Source.Unmap()
	if src.IsValid() && (src.Is6() != v6 || src.IsMulticast() || src.IsUnspecified()) {
		return nil, fmt.Errorf("%w: bad source %v for group %v", ErrNotMulticast, cfg.Source, g)
	}
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < 1 || ttl > 255 {
		return nil, fmt.Errorf("multicast: TTL %d out of range 1..255", cfg.TTL)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ifaces, err := chooseInterfaces(g, cfg.Interfaces)
	if err != nil {
		return nil, err
	}

	network, laddr := "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(port))
	if v6 {
		network, laddr = "udp6", net.JoinHostPort("::", strconv.Itoa(port))
	}
	lc := net.ListenConfig{Control: socketControl(v6, cfg.ReuseAddr, log)}
	pc, err := lc.ListenPacket(ctx, network, laddr)
	if err != nil {
		return nil, fmt.Errorf("multicast: %w", err)
	}
	c := &Conn{
		group:  netip.AddrPortFrom(g, group.Port()),
		gaddr:  &net.UDPAddr{IP: g.AsSlice(), Port: int(group.Port())},
		source: src,
		pc:     pc,
		ifaces: ifaces,
		ttl:    ttl,
		log:    log,
	}
	if err := c.setup(cfg.Loopback); err != nil {
		pc.Close()
		return nil, err
	}
	if join {
		if err := c.join(); err != nil {
			c.leave()
			pc.Close()
			return nil, err
		}
	}
	return c, nil
}

// chooseInterfaces applies the defaults and the group's zone.
func chooseInterfaces(g netip.Addr, given []net.Interface) ([]net.Interface, error) {
	var list []net.Interface
	if given != nil {
		list = append(list, given...)
	} else {
		all, err := net.Interfaces()
		if err != nil {
			return nil, fmt.Errorf("multicast: listing interfaces: %w", err)
		}
		for _, ifi := range all {
			if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0 &&
				ifi.Flags&net.FlagLoopback == 0 && hasFamilyAddr(ifi, g.Is6()) {
				list = append(list, ifi)
			}
		}
	}
	if zone := g.Zone(); zone != "" {
		var kept []net.Interface
		for _, ifi := range list {
			if ifi.Name == zone || strconv.Itoa(ifi.Index) == zone {
				kept = append(kept, ifi)
			}
		}
		if kept == nil && given == nil {
			ifi, err := net.InterfaceByName(zone)
			if err != nil {
				return nil, fmt.Errorf("%w: zone %q: %w", ErrNoInterface, zone, err)
			}
			kept = []net.Interface{*ifi}
		}
		list = kept
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w for group %v", ErrNoInterface, g)
	}
	return list, nil
}

// hasFamilyAddr reports whether ifi has an IPv4 address (v6 false) or an
// IPv6 link-local address (v6 true).
func hasFamilyAddr(ifi net.Interface, v6 bool) bool {
	addrs, err := ifi.Addrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !v6 && ip.Is4() || v6 && ip.Is6() && ip.IsLinkLocalUnicast() {
			return true
		}
	}
	return false
}

// setup wraps the socket in the x/net family type and sets the options.
func (c *Conn) setup(loop bool) error {
	if c.group.Addr().Is4() {
		c.p4 = ipv4.NewPacketConn(c.pc)
		if err := c.p4.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
			c.log.Warn("multicast: no control messages: arrival interface and TTL unknown", "err", err)
		}
		if err := c.p4.SetMulticastTTL(c.ttl); err != nil {
			return fmt.Errorf("multicast: setting TTL %d: %w", c.ttl, err)
		}
		if err := c.p4.SetMulticastLoopback(loop); err != nil {
			return fmt.Errorf("multicast: setting loopback: %w", err)
		}
		return nil
	}
	c.p6 = ipv6.NewPacketConn(c.pc)
	if err := c.p6.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
		c.log.Warn("multicast: no control messages: arrival interface and hop limit unknown", "err", err)
	}
	if err := c.p6.SetMulticastHopLimit(c.ttl); err != nil {
		return fmt.Errorf("multicast: setting hop limit %d: %w", c.ttl, err)
	}
	if err := c.p6.SetMulticastLoopback(loop); err != nil {
		return fmt.Errorf("multicast: setting loopback: %w", err)
	}
	return nil
}

// join joins the group on every interface and records each outcome.
func (c *Conn) join() error {
	var errs []error
	ok := 0
	for k := range c.ifaces {
		ifi := &c.ifaces[k]
		err := c.joinOne(ifi)
		c.members = append(c.members, Membership{Interface: *ifi, Err: err})
		if err != nil {
			errs = append(errs, err)
			c.log.Warn("multicast: join failed", "group", c.group.Addr(), "interface", ifi.Name, "err", err)
			continue
		}
		ok++
	}
	if ok == 0 {
		return fmt.Errorf("%w: %w", ErrNoMembership, errors.Join(errs...))
	}
	return nil
}

func (c *Conn) joinOne(ifi *net.Interface) error {
	var err error
	switch {
	case c.p4 != nil && c.source.IsValid():
		err = c.p4.JoinSourceSpecificGroup(ifi, c.gaddr, &net.UDPAddr{IP: c.source.AsSlice()})
	case c.p4 != nil:
		err = c.p4.JoinGroup(ifi, c.gaddr)
	case c.source.IsValid():
		err = c.p6.JoinSourceSpecificGroup(ifi, c.gaddr, &net.UDPAddr{IP: c.source.AsSlice()})
	default:
		err = c.p6.JoinGroup(ifi, c.gaddr)
	}
	if err == nil {
		return nil
	}
	what := "join"
	if c.source.IsValid() {
		what = "source-specific join (" + c.source.String() + ")"
	}
	switch {
	case errors.Is(err, syscall.ENOBUFS):
		return fmt.Errorf("%s %v on %s: %w: %w", what, c.group.Addr(), ifi.Name, ErrTooManyGroups, err)
	case c.source.IsValid() && (errors.Is(err, syscall.ENOPROTOOPT) || errors.Is(err, syscall.EOPNOTSUPP) ||
		errors.Is(err, errors.ErrUnsupported)):
		return fmt.Errorf("%s %v on %s: %w: %w", what, c.group.Addr(), ifi.Name, ErrSSMUnsupported, err)
	}
	return fmt.Errorf("%s %v on %s: %w", what, c.group.Addr(), ifi.Name, err)
}

// leave leaves every group this socket joined.
func (c *Conn) leave() error {
	var errs []error
	src := &net.UDPAddr{IP: c.source.AsSlice()}
	for _, m := range c.members {
		if m.Err != nil {
			continue
		}
		ifi := m.Interface
		var err error
		switch {
		case c.p4 != nil && c.source.IsValid():
			err = c.p4.LeaveSourceSpecificGroup(&ifi, c.gaddr, src)
		case c.p4 != nil:
			err = c.p4.LeaveGroup(&ifi, c.gaddr)
		case c.source.IsValid():
			err = c.p6.LeaveSourceSpecificGroup(&ifi, c.gaddr, src)
		default:
			err = c.p6.LeaveGroup(&ifi, c.gaddr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("multicast: leaving %v on %s: %w", c.group.Addr(), ifi.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Group returns the group address and port.
func (c *Conn) Group() netip.AddrPort { return c.group }

// Source returns the source of a source-specific join (zero for any-source).
func (c *Conn) Source() netip.Addr { return c.source }

// TTL returns the TTL or hop limit of datagrams sent to the group.
func (c *Conn) TTL() int { return c.ttl }

// UnicastTTL returns the TTL or hop limit of unicast datagrams (the
// system's default unless changed), or 0 if unknown.
func (c *Conn) UnicastTTL() int {
	var (
		v   int
		err error
	)
	if c.p4 != nil {
		v, err = c.p4.TTL()
	} else {
		v, err = c.p6.HopLimit()
	}
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// Interfaces returns the interfaces the Conn sends on (and joined on, unless
// it was opened without joining).
func (c *Conn) Interfaces() []net.Interface { return append([]net.Interface(nil), c.ifaces...) }

// Memberships returns the outcome of the join on each interface (empty for
// a Conn that did not join).
func (c *Conn) Memberships() []Membership { return append([]Membership(nil), c.members...) }

// Joined reports whether the Conn is a member of the group on at least one
// interface.
func (c *Conn) Joined() bool {
	for _, m := range c.members {
		if m.Err == nil {
			return true
		}
	}
	return false
}

// LocalAddr returns the address the socket is bound to.
func (c *Conn) LocalAddr() netip.AddrPort {
	if ua, ok := c.pc.LocalAddr().(*net.UDPAddr); ok {
		return ua.AddrPort()
	}
	return netip.AddrPort{}
}

// Dropped returns how many datagrams Read discarded because they were sent
// to another group or, with a source-specific join, came from another
// source.
func (c *Conn) Dropped() uint64 { return c.dropped.Load() }

// Read waits for the next datagram for this Conn, copies it into b and
// describes it. Datagrams sent to another group (which Linux delivers to a
// socket bound to the same port unless IP_MULTICAST_ALL is off) and, with a
// source-specific join, from another source are dropped and counted. Read
// returns ctx's error when ctx ends and ErrClosed after Close.
func (c *Conn) Read(ctx context.Context, b []byte) (Packet, error) {
	if err := ctx.Err(); err != nil {
		return Packet{}, err
	}
	stop := context.AfterFunc(ctx, func() { c.pc.SetReadDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() {
			c.pc.SetReadDeadline(time.Time{})
		}
	}()
	for {
		p, err := c.readOne(b)
		if err != nil {
			if ctx.Err() != nil {
				return Packet{}, ctx.Err()
			}
			return Packet{}, err
		}
		if c.wanted(p) {
			return p, nil
		}
		c.dropped.Add(1)
		c.log.Debug("multicast: dropped datagram for another group or source", "src", p.Src, "dst", p.Dst)
	}
}

func (c *Conn) readOne(b []byte) (Packet, error) {
	p := Packet{TTL: -1}
	var (
		src net.Addr
		err error
		dst net.IP
	)
	if c.p4 != nil {
		var cm *ipv4.ControlMessage
		p.N, cm, src, err = c.p4.ReadFrom(b)
		if cm != nil {
			dst, p.IfIndex, p.TTL = cm.Dst, cm.IfIndex, cm.TTL
		}
	} else {
		var cm *ipv6.ControlMessage
		p.N, cm, src, err = c.p6.ReadFrom(b)
		if cm != nil {
			dst, p.IfIndex, p.TTL = cm.Dst, cm.IfIndex, cm.HopLimit
		}
	}
	if err != nil {
		return p, err
	}
	if a, ok := netip.AddrFromSlice(dst); ok {
		p.Dst = a.Unmap()
		p.Multicast = p.Dst == c.group.Addr().WithZone("")
	}
	p.Interface = c.ifName(p.IfIndex)
	if ua, ok := src.(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		a := ap.Addr().Unmap()
		if a.Is6() && a.IsLinkLocalUnicast() && a.Zone() == "" && p.Interface != "" {
			a = a.WithZone(p.Interface)
		}
		p.Src = netip.AddrPortFrom(a, ap.Port())
	}
	return p, nil
}

// wanted applies the destination and source filters.
func (c *Conn) wanted(p Packet) bool {
	if !p.Dst.IsValid() || !p.Dst.IsMulticast() {
		return true // unicast, or the system does not tell
	}
	if !p.Multicast {
		return false
	}
	return !c.source.IsValid() || p.Src.Addr().WithZone("") == c.source.WithZone("")
}

// ifName returns the name of interface index (cached).
func (c *Conn) ifName(index int) string {
	if index <= 0 {
		return ""
	}
	if v, ok := c.names.Load(index); ok {
		return v.(string)
	}
	for _, ifi := range c.ifaces {
		if ifi.Index == index {
			c.names.Store(index, ifi.Name)
			return ifi.Name
		}
	}
	name := strconv.Itoa(index)
	if ifi, err := net.InterfaceByIndex(index); err == nil {
		name = ifi.Name
	}
	c.names.Store(index, name)
	return name
}

// WriteGroup sends b to the group once on every interface of the Conn and
// returns how many copies left. The error joins the per-interface failures.
func (c *Conn) WriteGroup(b []byte) (int, error) {
	sent := 0
	var errs []error
	for _, ifi := range c.ifaces {
		if err := c.WriteGroupOn(b, ifi.Index); err != nil {
			errs = append(errs, err)
			continue
		}
		sent++
	}
	return sent, errors.Join(errs...)
}

// WriteGroupOn sends b to the group out of the interface with index
// ifIndex.
func (c *Conn) WriteGroupOn(b []byte, ifIndex int) error {
	var err error
	if c.p4 != nil {
		_, err = c.p4.WriteTo(b, &ipv4.ControlMessage{IfIndex: ifIndex}, c.gaddr)
	} else {
		_, err = c.p6.WriteTo(b, &ipv6.ControlMessage{IfIndex: ifIndex}, c.gaddr)
	}
	if err != nil {
		return fmt.Errorf("multicast: sending to %v on %s: %w", c.group, c.ifName(ifIndex), err)
	}
	return nil
}

// WriteTo sends b by unicast to dst (same address family as the group).
func (c *Conn) WriteTo(b []byte, dst netip.AddrPort) error {
	ua := net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port()))
	var err error
	if c.p4 != nil {
		_, err = c.p4.WriteTo(b, nil, ua)
	} else {
		_, err = c.p6.WriteTo(b, nil, ua)
	}
	if err != nil {
		return fmt.Errorf("multicast: sending to %v: %w", dst, err)
	}
	return nil
}

// Close leaves the group on every interface and closes the socket. It
// returns the first failure; calling it again returns the same result.
func (c *Conn) Close() error {
	c.once.Do(func() {
		lerr := c.leave()
		cerr := c.pc.Close()
		c.closeErr = errors.Join(lerr, cerr)
	})
	return c.closeErr
}
