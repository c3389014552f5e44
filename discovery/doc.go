// Package discovery finds udpkit servers on the LAN without configuration.
//
// A server runs an Announcer; a client runs a Browser (find what is there
// now) or a Watcher (follow servers coming and going). The protocol is
// section 6 of PROTOCOL.md: QUERY, ANNOUNCE, ANSWER and GOODBYE messages
// of the udpkit wire protocol, sent per interface by directed broadcast,
// to the IPv4 group 239.255.97.97 and to the IPv6 group ff02::9797, on
// UDP port 9798. Names and attributes follow DNS-SD (RFC 6763).
//
// # Announcing
//
//	a, err := discovery.NewAnnouncer(discovery.AnnouncerConfig{
//		Port:  9797,
//		Bound: []netip.Addr{netip.IPv4Unspecified()}, // the server's bind addresses
//		Attrs: []string{"version=1"},
//	})
//	if errors.Is(err, discovery.ErrNoInterface) {
//		// bound to loopback, or no usable interface: run unannounced
//	}
//	go a.Run(ctx) // announces until ctx ends, then says goodbye
//
// The Announcer sends three announcements at start (0, 100 ms, 500 ms) to
// every destination, re-announces every 2/3 TTL with jitter with one
// datagram (the broadcast address), answers matching queries at once by
// unicast (for a repeated query, flag wire.QueryAgain, also a shared copy
// to the broadcast address or ff02::1 after a random 0–5 ms), and sends
// goodbyes (TTL 0) when Run's context ends. The servers that one group or
// broadcast query reaches share its bytes as their answer budget, ranked
// by message ID, so that together they never send more than it carried,
// even to a forged source (PROTOCOL.md 6.4, budget.go). Only peers
// that answered a unicast verification query at the address they were
// heard from rank there (verify.go), so forged announcements of many
// names take no budget from the real servers. Each
// interface gets only the server's own addresses on that interface. A
// server bound to specific addresses is announced only on the interfaces
// holding them. Many Announcers (and Watchers) share port 9798 on one host.
//
// # Browsing
//
//	b, err := discovery.NewBrowser(discovery.BrowserConfig{Interfaces: []string{"eth0"}})
//	defer b.Close()
//	ctx, cancel := context.WithTimeout(ctx, time.Second)
//	defer cancel()
//	err = b.Browse(ctx, "_udpkit._udp", func(in discovery.Instance) {
//		fmt.Println(in.Instance, in.Addrs, in.Interface)
//	})
//
// Query rounds go out at 0, 15, 40, 90, 190, 390, 790 ms and then every
// second; each lists the instances already found (known-answer
// suppression, RFC 6762 section 7.1). On a LAN all answers arrive within a
// few milliseconds; with 30% frame loss the front-loaded retries find
// everything within a few hundred milliseconds. The Browser sends from
// ephemeral ports, so it works on a host that also runs servers.
//
// # Limits
//
// An answer is never larger than its query, and an Announcer limits its
// answers per source address and port (AnnouncerConfig.SourceRate,
// default 20 a second after a burst of 40) and in all (GlobalRate, 200 a
// second after a burst of 400, and ten times as much beyond it for
// full-size queries), tracking at most 1024 sources, so a flood of
// queries, spoofed or not, costs bounded memory and sends bounded answers,
// and queries forged with a browser's address do not use up its answers.
// Announcer.Stats counts answers, duplicates, suppressed and limited
// queries.
//
// # Name conflicts
//
// Instance names are unique per service type on the LAN. At start an
// Announcer probes for its own name (RFC 6762 sections 8 and 9, without
// delaying the announcements): its queries for every service, which also
// teach it the peers that share answer budgets with it (it answers no
// shared query until those rounds are over, about 90 ms), are answered by
// a server using its name too; and it listens to the others'
// announcements. When another server uses its name, a generated name
// (AnnouncerConfig.Instance empty) is replaced by a new one and announced
// at once, with a warning in the log; a configured name is kept and the
// conflict logged as an error. A Browser reports a name 10 ms after its
// first answer. When another source answered with the name and neither
// record lists the other's address (two servers with one name, or a
// forger: without keys nothing says which is real), every claimant is
// reported, each with Instance.Conflict and Instance.Others; a claimant
// heard later is reported then and the first report repeated, marked. A
// Watcher takes a name known only from answers as provisional: the first
// source that announces it takes it over, marked. PROTOCOL.md sections
// 6.6 and 6.7 have the rules.
//
// # Watching
//
// A Watcher binds port 9798, joins both groups on every selected
// interface, and reports Up, Update and Down events: Down at once at a
// goodbye, or exactly when an instance's TTL (at most MaxTTL) passes
// without an announcement. Unless Passive, a Watcher that has not heard an
// instance by 80, 85, 90 and 95 % of its TTL asks it by unicast
// (maintenance queries, RFC 6762 section 5.2), so one lost refresh does
// not take an instance down; a server that vanished is reported Down one
// TTL after it was last heard (40–120 s with the default TTL).
//
// # Trust
//
// Without keys, what is known about an instance is bound to the source
// addresses it announced from (PROTOCOL.md 6.7): goodbyes and updates
// from other sources are ignored and counted, a live name stays with its
// first holder, unconfirmed entries make room first in a full table, and
// answers naming addresses they do not come from are dropped. Spoofed
// source addresses still win; SECURITY.md says what holds. With keys
// (AnnouncerConfig.Keys, BrowserConfig.Keys, WatcherConfig.Keys, package
// auth) every message is sealed and only authenticated, fresh, unreplayed
// datagrams are heard.
//
// # Interfaces
//
// Every type selects interfaces with package netif: names, addresses,
// CIDR prefixes or go-sockaddr templates; by default every interface that
// is up, not a loopback, and can broadcast or multicast. Groups are joined
// per interface, never on "any"; an interface that fails is logged and the
// others carry on. IPv4 and IPv6 use separate sockets, and the interface
// each datagram arrived on comes from control messages (IP_PKTINFO,
// IPV6_PKTINFO), so answers leave through the interface the query came in
// on.
package discovery
