package groupsock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/udpkit/udpkit/internal/netaddr"
	"github.com/udpkit/udpkit/internal/sockopt"
	"github.com/udpkit/udpkit/netif"
)

// Errors that callers branch on (test with errors.Is).
var (
	// ErrNoMembership: the group could not be joined on any interface
	// (only with Config.RequireJoin). It wraps the per-interface errors.
	ErrNoMembership = errors.New("joined on no interface")
	// ErrTooManyGroups: the kernel's per-socket membership limit was
	// reached (Linux: sysctl net.ipv4.igmp_max_memberships, 20 by
	// default).
	ErrTooManyGroups = errors.New("per-socket membership limit reached (Linux: sysctl net.ipv4.igmp_max_memberships)")
	// ErrSSMUnsupported: the system refused a source-specific join.
	ErrSSMUnsupported = errors.New("source-specific multicast not supported here")
)

// Share says whether and how the socket shares its port with others.
type Share uint8

// Port sharing modes.
const (
	// ShareNone: the port is the socket's alone.
	ShareNone Share = iota
	// ShareAddr: sockopt.ShareAddr (Linux SO_REUSEADDR), so that every
	// socket on the port receives every broadcast and multicast datagram:
	// udpkit discovery (9798) and multicast tests.
	ShareAddr
	// ShareAddrPort: sockopt.ShareAddrPort (SO_REUSEADDR and
	// SO_REUSEPORT), to share a port with other programs that set
	// SO_REUSEPORT: mDNS on 5353 next to avahi-daemon or mDNSResponder.
	ShareAddrPort
)

// DefaultTTL is the TTL (IPv4) or hop limit (IPv6) of datagrams sent to a
// group when Config.TTL is 0: 1 keeps them on the local link.
const DefaultTTL = 1

// Config describes a group socket. The zero value is not usable: Family
// is required. Fields are documented with their defaults.
type Config struct {
	// Family is 4 (udp4) or 6 (udp6). Required.
	Family int
	// Port to bind on the wildcard address. Default (0): ephemeral.
	Port int
	// Group is the multicast group Join joins and WriteGroup sends to.
	// Default (zero): none.
	Group netip.Addr
	// Source makes the join source-specific (SSM, RFC 4607). Default
	// (zero): any source.
	Source netip.Addr
	// Join joins Group on every interface of Interfaces. Default: false.
	Join bool
	// RequireJoin makes Listen fail with ErrNoMembership when Join
	// succeeded on no interface. Default: false (the socket still hears
	// unicast and broadcasts; Memberships tells what failed).
	RequireJoin bool
	// Interfaces are those to join on (the caller filters them: every
	// one is tried). Sends name their interface by index and may use any.
	Interfaces []netif.Interface
	// TTL is the TTL or hop limit of datagrams sent to a multicast
	// address, 1..255. Default (0): DefaultTTL.
	TTL int
	// Loopback delivers this host's datagrams to a group to its own
	// members too. Default: false.
	Loopback bool
	// Share is how the port is shared. Default: ShareNone.
	Share Share
	// OnlyJoined turns IP_MULTICAST_ALL (or IPV6_MULTICAST_ALL) off on
	// Linux, so that the socket receives only the groups it joined itself,
	// not every group any socket joined on the port. Default: false (the
	// Linux default, on). Elsewhere that is how sockets behave anyway.
	OnlyJoined bool
	// AllowNoControl keeps the socket when the system cannot report the
	// arrival interface, destination and TTL of datagrams (Packet then has
	// IfIndex 0, an invalid Dst and TTL -1). Default: false, Listen fails.
	AllowNoControl bool
	// Logger receives what goes wrong but does not stop the socket, at
	// Warn and Debug. Default (nil): silent.
	Logger *slog.Logger
}

// Membership is the outcome of the join on one interface.
type Membership struct {
	// Interface is where the join was attempted.
	Interface netif.Interface
	// Err is nil when the group was joined.
	Err error
}

// Packet describes one datagram ReadFrom returned.
type Packet struct {
	// N is the number of bytes read into the caller's buffer.
	N int
	// Src is the sender, IPv4-mapped addresses unmapped, an IPv6
	// link-local sender with the zone of the arrival interface.
	Src netip.AddrPort
	// Dst is the destination address (a group or one of this host's
	// addresses), unmapped; invalid when the system does not tell.
	Dst netip.Addr
	// IfIndex is the arrival interface; 0 when the system does not tell.
	IfIndex int
	// TTL is the TTL (IPv4) or hop limit (IPv6) the datagram arrived
	// with; -1 when the system does not tell.
	TTL int
}

// Conn is one UDP socket of one address family, bound to the wildcard
// address, joined to at most one group on a set of interfaces. One
// goroutine reads; writes may come from any goroutine.
type Conn struct {
	cfg     Config
	pc      net.PacketConn
	p4      *ipv4.PacketConn
	p6      *ipv6.PacketConn
	gaddr   *net.UDPAddr
	members []Membership
	names   sync.Map // ifindex -> name
	log     *slog.Logger

	once     sync.Once
	closeErr error
}

// Listen opens the socket, sets its options, joins (when asked) and
// returns it. ctx bounds the setup only.
func Listen(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.Family != 4 && cfg.Family != 6 {
		return nil, fmt.Errorf("address family %d (want 4 or 6)", cfg.Family)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < 1 || cfg.TTL > 255 {
		return nil, fmt.Errorf("TTL %d out of range 1..255", cfg.TTL)
	}
	cfg.Group, cfg.Source = cfg.Group.Unmap(), cfg.Source.Unmap()
	if cfg.Join && !cfg.Group.IsMulticast() {
		return nil, fmt.Errorf("join: %v is not a multicast group", cfg.Group)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	network, laddr := "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(cfg.Port))
	if cfg.Family == 6 {
		network, laddr = "udp6", net.JoinHostPort("::", strconv.Itoa(cfg.Port))
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		switch cfg.Share {
		case ShareAddr:
			if err := sockopt.ShareAddr(rc); err != nil {
				return err
			}
		case ShareAddrPort:
			if err := sockopt.ShareAddrPort(rc); err != nil {
				return err
			}
		}
		if cfg.OnlyJoined {
			if err := sockopt.MulticastAll(rc, cfg.Family == 6, false); err != nil {
				if cfg.Family == 4 {
					return fmt.Errorf("turning IP_MULTICAST_ALL off: %w", err)
				}
				log.Debug("IPV6_MULTICAST_ALL not supported; filter by destination", "err", err)
			}
		}
		return nil
	}}
	pc, err := lc.ListenPacket(ctx, network, laddr)
	if err != nil {
		return nil, err
	}
	c := &Conn{cfg: cfg, pc: pc, log: log}
	if cfg.Group.IsValid() {
		c.gaddr = &net.UDPAddr{IP: cfg.Group.AsSlice(), Zone: cfg.Group.Zone()}
	}
	if err := c.setup(); err != nil {
		pc.Close()
		return nil, err
	}
	if cfg.Join {
		if err := c.join(); err != nil {
			c.leave()
			pc.Close()
			return nil, err
		}
	}
	return c, nil
}

// setup wraps the socket in the x/net family type and sets the options.
func (c *Conn) setup() error {
	var cmErr error
	if c.cfg.Family == 4 {
		c.p4 = ipv4.NewPacketConn(c.pc)
		cmErr = c.p4.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true)
		if err := c.p4.SetMulticastTTL(c.cfg.TTL); err != nil {
			return fmt.Errorf("setting TTL %d: %w", c.cfg.TTL, err)
		}
		if err := c.p4.SetMulticastLoopback(c.cfg.Loopback); err != nil {
			return fmt.Errorf("setting loopback: %w", err)
		}
	} else {
		c.p6 = ipv6.NewPacketConn(c.pc)
		cmErr = c.p6.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
		if err := c.p6.SetMulticastHopLimit(c.cfg.TTL); err != nil {
			return fmt.Errorf("setting hop limit %d: %w", c.cfg.TTL, err)
		}
		if err := c.p6.SetMulticastLoopback(c.cfg.Loopback); err != nil {
			return fmt.Errorf("setting loopback: %w", err)
		}
	}
	if cmErr != nil {
		if !c.cfg.AllowNoControl {
			return fmt.Errorf("receiving the interface of IPv%d datagrams: %w", c.cfg.Family, cmErr)
		}
		c.log.Warn("no control messages: arrival interface and TTL unknown", "err", cmErr)
	}
	return nil
}

// join joins the group on every interface and records each outcome. It
// fails only when every interface failed and RequireJoin is set.
func (c *Conn) join() error {
	var errs []error
	for _, ifi := range c.cfg.Interfaces {
		err := c.joinOne(ifi)
		c.members = append(c.members, Membership{Interface: ifi, Err: err})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.cfg.RequireJoin && !c.Joined() {
		if len(errs) == 0 {
			return fmt.Errorf("%w: no interface given", ErrNoMembership)
		}
		return fmt.Errorf("%w: %w", ErrNoMembership, errors.Join(errs...))
	}
	return nil
}

func (c *Conn) joinOne(ifi netif.Interface) error {
	nifi := &net.Interface{Index: ifi.Index, Name: ifi.Name, MTU: ifi.MTU, Flags: ifi.Flags}
	src := &net.UDPAddr{IP: c.cfg.Source.AsSlice()}
	ssm := c.cfg.Source.IsValid()
	var err error
	switch {
	case c.p4 != nil && ssm:
		err = c.p4.JoinSourceSpecificGroup(nifi, c.gaddr, src)
	case c.p4 != nil:
		err = c.p4.JoinGroup(nifi, c.gaddr)
	case ssm:
		err = c.p6.JoinSourceSpecificGroup(nifi, c.gaddr, src)
	default:
		err = c.p6.JoinGroup(nifi, c.gaddr)
	}
	if err == nil {
		return nil
	}
	what := "join"
	if ssm {
		what = "source-specific join (" + c.cfg.Source.String() + ")"
	}
	switch {
	case errors.Is(err, syscall.ENOBUFS):
		return fmt.Errorf("%s %v on %s: %w: %w", what, c.cfg.Group, ifi.Name, ErrTooManyGroups, err)
	case ssm && (errors.Is(err, syscall.ENOPROTOOPT) || errors.Is(err, syscall.EOPNOTSUPP) ||
		errors.Is(err, errors.ErrUnsupported)):
		return fmt.Errorf("%s %v on %s: %w: %w", what, c.cfg.Group, ifi.Name, ErrSSMUnsupported, err)
	}
	return fmt.Errorf("%s %v on %s: %w", what, c.cfg.Group, ifi.Name, err)
}

// leave leaves the group on every interface it was joined on.
func (c *Conn) leave() error {
	var errs []error
	src := &net.UDPAddr{IP: c.cfg.Source.AsSlice()}
	ssm := c.cfg.Source.IsValid()
	for _, m := range c.members {
		if m.Err != nil {
			continue
		}
		ifi := &net.Interface{Index: m.Interface.Index, Name: m.Interface.Name}
		var err error
		switch {
		case c.p4 != nil && ssm:
			err = c.p4.LeaveSourceSpecificGroup(ifi, c.gaddr, src)
		case c.p4 != nil:
			err = c.p4.LeaveGroup(ifi, c.gaddr)
		case ssm:
			err = c.p6.LeaveSourceSpecificGroup(ifi, c.gaddr, src)
		default:
			err = c.p6.LeaveGroup(ifi, c.gaddr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("leaving %v on %s: %w", c.cfg.Group, ifi.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Memberships returns the outcome of the join on each interface (empty
// without Join).
func (c *Conn) Memberships() []Membership { return append([]Membership(nil), c.members...) }

// Joined reports whether the group was joined on at least one interface.
func (c *Conn) Joined() bool {
	for _, m := range c.members {
		if m.Err == nil {
			return true
		}
	}
	return false
}

// Group returns the configured group (zero if none).
func (c *Conn) Group() netip.Addr { return c.cfg.Group }

// Source returns the source of a source-specific join (zero if none).
func (c *Conn) Source() netip.Addr { return c.cfg.Source }

// TTL returns the TTL or hop limit of datagrams sent to a group.
func (c *Conn) TTL() int { return c.cfg.TTL }

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

// LocalAddr returns the address the socket is bound to.
func (c *Conn) LocalAddr() netip.AddrPort {
	return netaddr.AddrPort(c.pc.LocalAddr())
}

// SetReadDeadline sets the deadline of ReadFrom (zero: none).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.pc.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of WriteTo, WriteToEach and
// WriteGroup (zero: none): past it, a write that finds the send buffer
// full fails with an error that matches os.ErrDeadlineExceeded.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.pc.SetWriteDeadline(t) }

// ReadFrom reads the next datagram into b and describes it. After Close
// it returns an error that wraps net.ErrClosed.
func (c *Conn) ReadFrom(b []byte) (Packet, error) {
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
		return Packet{TTL: -1}, err
	}
	if a, ok := netip.AddrFromSlice(dst); ok {
		p.Dst = a.Unmap()
	}
	p.Src = netaddr.Unmapped(src)
	if a := p.Src.Addr(); a.Is6() && a.IsLinkLocalUnicast() && a.Zone() == "" && p.IfIndex > 0 {
		p.Src = netip.AddrPortFrom(a.WithZone(c.InterfaceName(p.IfIndex)), p.Src.Port())
	}
	return p, nil
}

// WriteTo sends b to dst, out of the interface with index ifIndex when it
// is not 0 (the routing table's choice otherwise).
func (c *Conn) WriteTo(b []byte, dst netip.AddrPort, ifIndex int) error {
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	var err error
	if c.p4 != nil {
		var cm *ipv4.ControlMessage
		if ifIndex != 0 {
			cm = &ipv4.ControlMessage{IfIndex: ifIndex}
		}
		_, err = c.p4.WriteTo(b, cm, net.UDPAddrFromAddrPort(dst))
	} else {
		var cm *ipv6.ControlMessage
		if ifIndex != 0 {
			cm = &ipv6.ControlMessage{IfIndex: ifIndex}
			// The control message names the interface, so the address
			// goes without its zone: x/net turns a zone into an index
			// through a cache of interface names, and a name may be
			// another network namespace's (the cache is per process),
			// while a numeric zone misses that cache and costs a
			// netlink dump of every interface on each send.
			dst = netip.AddrPortFrom(dst.Addr().WithZone(""), dst.Port())
		}
		_, err = c.p6.WriteTo(b, cm, net.UDPAddrFromAddrPort(dst))
	}
	return err
}

// WriteToEach sends b to every address of dsts, out of the interface with
// index ifIndex when it is not 0, in as few system calls as the platform
// allows (one sendmmsg on Linux, else one per address): a host that gets
// several copies (the broadcast and the group address) gets them before
// it is woken, not once per copy. It returns one error per address, nil
// for the ones sent.
func (c *Conn) WriteToEach(b []byte, dsts []netip.AddrPort, ifIndex int) []error {
	errs := make([]error, len(dsts))
	var oob []byte
	if ifIndex != 0 {
		if c.p4 != nil {
			oob = (&ipv4.ControlMessage{IfIndex: ifIndex}).Marshal()
		} else {
			oob = (&ipv6.ControlMessage{IfIndex: ifIndex}).Marshal()
		}
	}
	ms := make([]ipv4.Message, len(dsts)) // ipv6.Message is the same type
	for i, dst := range dsts {
		a := dst.Addr().Unmap()
		if ifIndex != 0 {
			a = a.WithZone("") // the control message names the interface (WriteTo)
		}
		ms[i] = ipv4.Message{Buffers: [][]byte{b}, OOB: oob, Addr: net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, dst.Port()))}
	}
	for i := 0; i < len(ms); {
		var n int
		var err error
		if c.p4 != nil {
			n, err = c.p4.WriteBatch(ms[i:], 0)
		} else {
			n, err = c.p6.WriteBatch(ms[i:], 0)
		}
		i += max(n, 0)
		if i >= len(ms) {
			break
		}
		if err != nil || n <= 0 {
			// The first one not sent, or no batch write on this
			// platform (Windows): alone, with its own error.
			errs[i] = c.WriteTo(b, dsts[i], ifIndex)
			i++
		}
	}
	return errs
}

// WriteGroup sends b to the group and port out of interface ifIndex.
func (c *Conn) WriteGroup(b []byte, port uint16, ifIndex int) error {
	if c.gaddr == nil {
		return errors.New("no group configured")
	}
	return c.WriteTo(b, netip.AddrPortFrom(c.cfg.Group.WithZone(""), port), ifIndex)
}

// InterfaceName returns the name of interface index: from the configured
// interfaces, else from the system, else the number (cached).
func (c *Conn) InterfaceName(index int) string {
	if index <= 0 {
		return ""
	}
	if v, ok := c.names.Load(index); ok {
		return v.(string)
	}
	name := ""
	for _, ifi := range c.cfg.Interfaces {
		if ifi.Index == index {
			name = ifi.Name
		}
	}
	if name == "" {
		name = strconv.Itoa(index)
		if ifi, err := net.InterfaceByIndex(index); err == nil {
			name = ifi.Name
		}
	}
	c.names.Store(index, name)
	return name
}

// Close leaves the group on every interface and closes the socket; a
// ReadFrom in progress returns. Calling it again returns the same result.
func (c *Conn) Close() error {
	c.once.Do(func() {
		c.closeErr = errors.Join(c.leave(), c.pc.Close())
	})
	return c.closeErr
}
