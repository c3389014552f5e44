package multicast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/udpkit/udpkit/internal/groupsock"
	"github.com/udpkit/udpkit/internal/readloop"
	"github.com/udpkit/udpkit/netif"
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
	ErrNoMembership = groupsock.ErrNoMembership
	// ErrTooManyGroups: the kernel's per-socket membership limit was
	// reached (Linux: sysctl net.ipv4.igmp_max_memberships, 20 by
	// default). Select fewer interfaces or raise the limit.
	ErrTooManyGroups = groupsock.ErrTooManyGroups
	// ErrSSMUnsupported: the system refused a source-specific join.
	ErrSSMUnsupported = groupsock.ErrSSMUnsupported
	// ErrClosed is returned by Read and the writes after Close.
	ErrClosed = net.ErrClosed
)

// DefaultTTL is the TTL (IPv4) or hop limit (IPv6) of multicast datagrams
// when Config.TTL is 0: 1 keeps them on the local link, as the socket API
// and iperf do.
const DefaultTTL = groupsock.DefaultTTL

// Config configures a Conn. The zero value joins the group any-source on
// every suitable interface, with TTL 1 and loopback off.
type Config struct {
	// Interfaces to join and send on. Default (nil): netif.SelectGroup's
	// default, every interface that is up, can multicast, is not a
	// loopback and has an address of the group's family (IPv4, or an IPv6
	// link-local address). A zone in the group address (ff02::1%eth0)
	// narrows the list to that one.
	Interfaces []netif.Interface
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
	Interface netif.Interface
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
	group  netip.AddrPort
	source netip.Addr
	gs     *groupsock.Conn
	ifaces []netif.Interface
	log    *slog.Logger

	dropped atomic.Uint64
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

	gs, err := groupsock.Listen(ctx, groupsock.Config{
		Family: map[bool]int{false: 4, true: 6}[v6], Port: port, Group: g, Source: src,
		Join: join, RequireJoin: true, Interfaces: ifaces, TTL: ttl, Loopback: cfg.Loopback,
		Share:      map[bool]groupsock.Share{false: groupsock.ShareNone, true: groupsock.ShareAddr}[cfg.ReuseAddr],
		OnlyJoined: true, AllowNoControl: true, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("multicast: %w", err)
	}
	for _, m := range gs.Memberships() {
		if m.Err != nil {
			log.Warn("multicast: join failed", "group", g, "interface", m.Interface.Name, "err", m.Err)
		}
	}
	return &Conn{group: netip.AddrPortFrom(g, group.Port()), source: src, gs: gs, ifaces: ifaces, log: log}, nil
}

// chooseInterfaces applies the default (netif.SelectGroup) and the
// group's zone.
func chooseInterfaces(g netip.Addr, given []netif.Interface) ([]netif.Interface, error) {
	if given == nil {
		list, _, err := netif.SelectGroup(nil, g)
		if err != nil {
			return nil, fmt.Errorf("%w for group %v: %w", ErrNoInterface, g, err)
		}
		return list, nil
	}
	list := append([]netif.Interface(nil), given...)
	if zone := g.Zone(); zone != "" {
		var kept []netif.Interface
		for _, ifi := range list {
			if ifi.Name == zone || strconv.Itoa(ifi.Index) == zone {
				kept = append(kept, ifi)
			}
		}
		list = kept
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w for group %v", ErrNoInterface, g)
	}
	return list, nil
}

// Group returns the group address and port.
func (c *Conn) Group() netip.AddrPort { return c.group }

// Source returns the source of a source-specific join (zero for any-source).
func (c *Conn) Source() netip.Addr { return c.source }

// TTL returns the TTL or hop limit of datagrams sent to the group.
func (c *Conn) TTL() int { return c.gs.TTL() }

// UnicastTTL returns the TTL or hop limit of unicast datagrams (the
// system's default unless changed), or 0 if unknown.
func (c *Conn) UnicastTTL() int { return c.gs.UnicastTTL() }

// Interfaces returns the interfaces the Conn sends on (and joined on, unless
// it was opened without joining).
func (c *Conn) Interfaces() []netif.Interface { return append([]netif.Interface(nil), c.ifaces...) }

// Memberships returns the outcome of the join on each interface (empty for
// a Conn that did not join).
func (c *Conn) Memberships() []Membership {
	var out []Membership
	for _, m := range c.gs.Memberships() {
		out = append(out, Membership{Interface: m.Interface, Err: m.Err})
	}
	return out
}

// Joined reports whether the Conn is a member of the group on at least one
// interface.
func (c *Conn) Joined() bool { return c.gs.Joined() }

// LocalAddr returns the address the socket is bound to.
func (c *Conn) LocalAddr() netip.AddrPort { return c.gs.LocalAddr() }

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
	// ctx's end wakes the read; the socket is left without a deadline
	// whenever ctx ends (readloop.Wake waits for the wake-up).
	defer readloop.Wake(ctx, c.gs, time.Time{})()
	for {
		p, err := c.readOne(b)
		if testHookRead != nil {
			testHookRead()
		}
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

// testHookRead, for tests, runs after every read of Read.
var testHookRead func()

func (c *Conn) readOne(b []byte) (Packet, error) {
	gp, err := c.gs.ReadFrom(b)
	if err != nil {
		return Packet{TTL: -1}, err
	}
	p := Packet{N: gp.N, Src: gp.Src, Dst: gp.Dst, IfIndex: gp.IfIndex, TTL: gp.TTL}
	p.Multicast = p.Dst.IsValid() && p.Dst == c.group.Addr().WithZone("")
	p.Interface = c.gs.InterfaceName(p.IfIndex)
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
	if err := c.gs.WriteGroup(b, c.group.Port(), ifIndex); err != nil {
		return fmt.Errorf("multicast: sending to %v on %s: %w", c.group, c.gs.InterfaceName(ifIndex), err)
	}
	return nil
}

// WriteTo sends b by unicast to dst (same address family as the group).
func (c *Conn) WriteTo(b []byte, dst netip.AddrPort) error {
	if err := c.gs.WriteTo(b, dst, 0); err != nil {
		return fmt.Errorf("multicast: sending to %v: %w", dst, err)
	}
	return nil
}

// Close leaves the group on every interface and closes the socket. It
// returns the first failure; calling it again returns the same result.
func (c *Conn) Close() error { return c.gs.Close() }
