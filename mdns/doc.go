// Package mdns speaks multicast DNS with DNS service discovery (RFC 6762,
// RFC 6763), so that udpkit servers show up in avahi-browse, dns-sd and
// every zeroconf library, and udpcli can browse any DNS-SD service type.
//
// A Responder publishes one instance (PTR, SRV, TXT and the A/AAAA records
// of each interface, with that interface's addresses only) and follows the
// RFC 6762 rules that matter on a real LAN: three probes 250 ms apart (QU
// questions) with the simultaneous-probe tie-break, renaming "name (2)" on a conflict;
// three announcements one and two seconds apart; answers to shared records
// (PTR) delayed 20–120 ms (400–500 ms for truncated queries) and
// aggregated, unique records answered at once; known-answer suppression;
// no record multicast twice within a second on one interface (250 ms when
// defending against a probe); goodbyes with TTL 0 at once on shutdown
// (PTR, SRV, TXT: the host name, DefaultHost, is shared by the responders
// of one machine with the same addresses, so its A/AAAA stay); QU
// questions answered by unicast unless a record was not multicast within a
// quarter of its TTL; legacy unicast answers (source port other than 5353:
// straight back, ID and question echoed, TTL at most 10 s, at once);
// nothing for off-link sources (a
// source outside the interface's subnets, unless its IP TTL is 255).
//
// A Browser asks for the PTR records of a service type and resolves each
// instance from the SRV, TXT and address records that come with the
// answers, asking for what is missing. Questions follow RFC 6762 section
// 5.2 (continuous querying from port 5353: at 0 s, then 1 s, doubling up to
// 60 minutes, with known answers), and in the first 600 ms also go out as
// one-shot queries from an ephemeral port (section 5.1), which responders
// answer at once by unicast, outside the one-second multicast rate limit:
// that is what makes a browser fast under frame loss without multicasting
// any record more often than RFC 6762 allows. Instance.TTL is the SRV's
// TTL from a multicast answer, 0 when only a one-shot (TTL-capped) answer
// was heard.
//
// Messages are built and parsed with github.com/miekg/dns. Sockets live in
// sock.go behind a small interface, on internal/groupsock: UDP 5353 shared
// with other responders (SO_REUSEADDR and SO_REUSEPORT, as avahi-daemon
// sets them), IPv4 and IPv6 apart, the group joined per interface, the
// arrival interface and IP TTL from control messages, multicast sent with
// TTL 255 and looped back (so an Avahi on the same host hears us).
package mdns
