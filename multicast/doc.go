// Package multicast joins, sends to and tests IP multicast groups, for IPv4
// and IPv6, any-source (ASM) and source-specific (SSM, RFC 4607), on an
// explicit set of interfaces. Its sockets are udpkit's one group-socket
// layer (internal/groupsock, on golang.org/x/net/ipv4 and ipv6), its
// interfaces netif.Interface values; it backs "udpcli mcast".
//
// # Receiving a group
//
// Listen binds the group's port, joins the group on every interface of
// Config.Interfaces (by default every up, multicast-capable, non-loopback
// interface with an address of the group's family) and reports per
// interface whether the join worked (Conn.Memberships). Read tells, for
// every datagram, the destination (group or unicast), the arrival interface
// and the remaining TTL (IPv6: hop limit):
//
//	c, err := multicast.Listen(ctx, netip.MustParseAddrPort("239.1.2.3:5000"), multicast.Config{})
//	if err != nil { ... }
//	defer c.Close() // leaves the group on every interface
//	b := make([]byte, 1500)
//	for {
//		p, err := c.Read(ctx, b)
//		if err != nil { ... }
//		fmt.Println(p.Src, p.Dst, p.Interface, p.TTL, p.N)
//	}
//
// Receive is that loop with a count and the context's deadline (udpcli mcast
// listen). Set Config.Source for a source-specific join (IGMPv3 / MLDv2).
// ParseGroup, ParsePeer and ParseSource read the GROUP[:PORT], PEER and
// source arguments of the tools (port 9797 by default).
//
// # Sending to a group
//
// Dial opens an ephemeral port without joining; WriteGroup sends one copy
// out of each interface (the interface is chosen per datagram with
// IP_PKTINFO / IPV6_PKTINFO, so one socket serves them all). Config.TTL
// sets the TTL or hop limit (default 1: the local link) and Config.Loopback
// the delivery to members on the sending host. Repeat sends rounds of
// datagrams out of every interface at an interval (udpcli mcast send).
//
// # Testing a group
//
// RunTest (or NewTest, Run, Close) is an omping-style test: every
// participant sends sequenced PROBE messages to the group and to each peer
// by unicast, answers the probes it receives with a unicast REPLY, and
// reports per peer the one-way loss (from the counters the peer puts in
// its replies), the round-trip loss, duplicates, reordering, RTT and the
// TTL seen, plus what it received of the peer's own probes. A peer that
// does not join (Config.NoJoin) says so in its flags and is reported as
// "not joined" rather than as a dead host. A participant answers only
// accepted sources (listed peers, peers added with Test.AddPeer by
// discovery, and sources that introduced themselves with a unicast probe),
// each within a reply budget, so that a spoofed probe to the group is not
// reflected by every member. A group probe from another address of a
// known peer (an IPv6 host sends to ff02:: groups from its fe80:: address)
// is matched by its session and answered at the peer's known address. In
// a source-specific test only the source sends to the group.
//
// # How the figures are computed
//
// The headline one-way loss towards a peer (KindReport.Xmt, Rcv, Loss)
// counts every probe sent to it from the first counted one (1 for a peer
// heard during the start-up handshake) to the last of the run; Rcv is
// the peer's own counter from its replies. A peer that stops answering,
// or whose group traffic stops halfway, shows everything after that as
// lost. What came from the peer (FlowReport) counts from its seq 1 when
// its session was heard before its first probe of that kind, to the
// count it announces in its probes, so a group that works late or stops
// early is seen from both sides. The wire format is in
// PROTOCOL.md, section 7; its pure codec is in package wire
// (wire.AppendProbe, wire.ParseProbe, wire.AppendReply, wire.ParseReply).
//
// # Traps handled
//
//   - On Linux a socket bound to a port receives every group joined on that
//     port by any socket of the host. The socket turns IP_MULTICAST_ALL
//     (IPV6_MULTICAST_ALL on Linux 4.20+) off, and Read also drops datagrams
//     whose destination is another group, and, with SSM, another source
//     (counted by Conn.Dropped).
//   - The kernel limits memberships per socket (Linux:
//     net.ipv4.igmp_max_memberships, 20 by default); a join beyond it fails
//     with ErrTooManyGroups for that interface, the others stay joined.
//   - IPv4 and IPv6 need separate sockets: a Conn serves one group.
//   - IPv6 link-local groups (ff02::/16) need an interface: give it as the
//     zone (ff02::1234%eth0) or in Config.Interfaces.
//
// Interface selection by name, address, CIDR or template is package netif's
// job (netif.SelectGroup is the policy for a group); pass the result as
// Config.Interfaces.
//
// # Finding the participants
//
// Test.Discover announces the participant with a discovery.Announcer and
// adds the others it browses (PROTOCOL.md section 7, "Discovery of
// participants").
package multicast
