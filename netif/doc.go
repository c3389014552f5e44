// Package netif chooses the network interfaces udpkit sends and listens on.
//
// Broadcast and multicast are per interface: a datagram sent to
// 255.255.255.255 or 224.0.0.251 leaves by one interface only, and a
// multicast group is joined on one interface at a time. A program that
// wants to reach "the LAN" must therefore pick its interfaces, and users
// must be able to see which were picked and why the others were not.
//
// # Selecting
//
// Select takes the specs a user gives with -I, one per flag:
//
//	sel, err := netif.Select("eth0")                  // by name
//	sel, err := netif.Select("198.18.0.0/15")         // every interface with an address inside
//	sel, err := netif.Select("198.18.0.10")           // the interface holding this address
//	sel, err := netif.Select(`{{ GetPrivateInterfaces | include "flags" "broadcast" }}`)
//	sel, err := netif.Select()                        // the default
//
// The last form is a go-sockaddr template (github.com/hashicorp/go-sockaddr/template),
// the syntax Consul and Nomad use for -bind and -advertise. Every address the
// template prints selects the interface that holds it. Templates see the
// same interfaces Select does; only GetDefaultInterfaces needs the default
// route (found with `ip route`), and it fails with ErrNoDefaultRoute in
// containers without one.
//
// The default, with no specs, is every interface that is up, is not a
// loopback, has an address and can broadcast or multicast. Naming an
// interface picks it even if the default would not (a loopback, say), as
// long as it is up and has an address. A spec that picks nothing is an
// error that wraps ErrNoMatch, names the spec and lists the interfaces that
// exist.
//
// # Reporting
//
// A Selection holds the chosen interfaces, each with its IPv4 addresses and
// their directed broadcast addresses, its IPv6 link-local address (zoned,
// ready for a sockaddr) and its other IPv6 addresses, plus every interface
// that was skipped and why. The types carry no encoding and the package
// prints nothing: a command owns its output formats (udpcli ifaces has a
// table and --json). On ErrNoMatch the Selection still lists the skipped
// interfaces, for a command to show why:
//
//	sel, err := netif.Select()
//	if err != nil && !errors.Is(err, netif.ErrNoMatch) {
//		return err
//	}
//	fmt.Println(sel.Names(), sel.Skipped)
//
// Directed broadcast addresses follow RFC 919 and RFC 922; a /31 (RFC 3021)
// or /32 has none. IPv6 link-local addresses are scoped (RFC 4007): the
// zone, here the interface name, must travel with the address.
package netif
