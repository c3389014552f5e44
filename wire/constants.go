package wire

import "net/netip"

// Ports, groups, service types and attribute keys of the protocol
// (PROTOCOL.md sections 6.1 and 7). They are the protocol: a peer that
// uses others does not meet udpkit peers.
const (
	// DataPort is the UDP port a udpkit server listens on by default
	// (DATA, ACK, NACK, PING, PONG).
	DataPort = 9797
	// DiscoveryPort is the UDP port discovery announcements and queries
	// are sent to (QUERY, ANNOUNCE, GOODBYE; ANSWER goes to the querier).
	DiscoveryPort = 9798

	// ServiceServer is the DNS-SD service type udpkit servers announce
	// when none is configured.
	ServiceServer = "_udpkit._udp"
	// ServiceMulticastTest is the service type participants of a
	// multicast test announce and browse (PROTOCOL.md section 7).
	ServiceMulticastTest = "_udpkit-mcast._udp"

	// AttrGroup is the attribute key of a multicast test participant's
	// group and port ("group=G:P").
	AttrGroup = "group"
	// AttrSession is the attribute key of a multicast test participant's
	// session, 8 hex digits ("session=0a1b2c3d").
	AttrSession = "session"
)

// Multicast groups of discovery (PROTOCOL.md section 6.1).
var (
	// DiscoveryGroup4 is the IPv4 group, organization-local scope (RFC 2365).
	DiscoveryGroup4 = netip.MustParseAddr("239.255.97.97")
	// DiscoveryGroup6 is the IPv6 group, link-local scope.
	DiscoveryGroup6 = netip.MustParseAddr("ff02::9797")
)
