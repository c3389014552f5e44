// Package groupsock is udpkit's one group-socket layer: a UDP socket of one
// address family on the wildcard address, joined to a multicast group per
// interface, that tells for every datagram where it came from, on which
// interface it arrived, to which destination and with what TTL, and sends
// out of a chosen interface. Discovery (port 9798), multicast tests
// (multicast.Conn) and the mDNS responder and browser (port 5353) all open
// their group sockets here, so the traps below are handled once.
//
// # API
//
//	c, err := groupsock.Listen(ctx, groupsock.Config{
//		Family:     4,                                 // or 6; one socket per family
//		Port:       5353,                              // 0: ephemeral (a querier)
//		Group:      netip.MustParseAddr("224.0.0.251"), // or ff02::fb
//		Join:       true,                              // on every one of Interfaces
//		Interfaces: sel.Multicast(),                   // netif.Interface values
//		TTL:        255,                               // RFC 6762 section 11; default 1
//		Share:      groupsock.ShareAddrPort,           // next to avahi-daemon
//		OnlyJoined: true,                              // Linux: IP_MULTICAST_ALL off
//	})
//	p, err := c.ReadFrom(buf)             // p.Src, p.Dst, p.IfIndex, p.TTL
//	err = c.WriteGroup(msg, 5353, p.IfIndex) // to the group out of one interface
//	err = c.WriteTo(msg, p.Src, p.IfIndex)   // unicast out of one interface
//	for _, m := range c.Memberships() { ... } // the join's outcome per interface
//	c.Close()                             // leaves the groups, ends ReadFrom
//
// Interfaces are netif.Interface values (package netif is udpkit's one
// interface model and default policy); the caller picks those that suit
// the group's family, and every one is tried.
//
// # Rules
//
//   - Joins are per interface. A join that fails on some interfaces is
//     recorded in Memberships and the socket stays usable; Listen fails
//     (ErrNoMembership, wrapping every per-interface error) only when every
//     join failed and Config.RequireJoin is set. Discovery's IPv4 socket
//     does not require it (it still hears directed broadcasts); multicast
//     tests and the IPv6 discovery socket do.
//   - The kernel's per-socket membership limit (ENOBUFS) is reported as
//     ErrTooManyGroups, a refused source-specific join as ErrSSMUnsupported.
//   - Control messages (IP_PKTINFO / IPV6_PKTINFO, IP_RECVTTL /
//     IPV6_RECVHOPLIMIT) are always asked for: a receiver must know the
//     arrival interface to answer out of it. Listen fails when the system
//     cannot give them, unless Config.AllowNoControl.
//   - Zones: an IPv6 link-local sender gets the zone of its arrival
//     interface, so that the address can be answered. A send to a zoned
//     address out of a given interface uses the numeric zone of that
//     interface: the net package's name-to-index cache is shared by every
//     network namespace a process enters.
//   - TTL (IPv4) / hop limit (IPv6) of datagrams to a group defaults to 1
//     (link-local scope), loopback of one's own group datagrams to off.
//   - Port sharing: ShareAddr (Linux SO_REUSEADDR alone) for udpkit's own
//     ports, where every socket must receive every group datagram (with
//     SO_REUSEPORT, Linux hands a multicast datagram to one socket of the
//     group only); ShareAddrPort (SO_REUSEADDR and SO_REUSEPORT) for a port
//     shared with other programs that set SO_REUSEPORT, such as mDNS on
//     5353.
//   - On Linux a socket bound to a port receives every group joined on that
//     port by any socket of the host unless IP_MULTICAST_ALL is off
//     (Config.OnlyJoined). A caller that needs exactness still checks
//     Packet.Dst.
//
// The package does no I/O scheduling of its own: one goroutine reads,
// writes may come from any goroutine, and the caller's read loop handles
// errors (see internal/readloop).
package groupsock
