// Package netlab builds a small LAN out of Linux network namespaces, for
// integration tests and demos that must broadcast, multicast or lose
// packets without any of it reaching a real network.
//
// # Topology
//
// A lab has one namespace per host ("<prefix>-h0", "<prefix>-h1", ...) and
// one for the switch ("<prefix>-br"). The switch namespace holds a Linux
// bridge per segment, with multicast snooping off so that multicast floods
// like on a dumb switch, and the .1 address of each segment:
//
//	segment A: bridge brA, 198.18.0.0/24 and fd18::/64 (RFC 2544 benchmarking, ULA)
//	segment B: bridge brB, 198.18.1.0/24 and fd18:0:0:1::/64
//
//	host i:    eth0 = 198.18.0.(10+i)/24, fd18::(10+i)/64, default routes via .1 and ::1
//	           eth1 = 198.18.1.(10+i)/24, fd18:0:0:1::(10+i)/64 (hosts in Config.SecondSegment)
//
// Each NIC is one end of a veth pair whose other end is a port of the
// bridge. Pairs are created inside the host namespace with their peer put
// straight into the switch namespace, so nothing ever appears in the
// caller's namespace. IPv6 duplicate address detection is off in every lab
// namespace, so addresses, link-local ones included, are usable as soon as
// New returns.
//
// Packet loss is an nftables rule on the bridges' forward path
// (`numgen random mod 100 < P drop`), set with Config.Loss or Lab.SetLoss.
//
// # Avahi
//
// Host.StartAvahi runs avahi-daemon inside a host, for mDNS interop tests:
// a private dbus-daemon (its socket in a temporary directory, handed to
// clients as DBUS_SYSTEM_BUS_ADDRESS by Avahi.Command), and the daemon in
// a mount namespace of its own (unshare -m) with a private /run and
// /etc/avahi/services bound over the real ones, as root without chroot
// (--no-drop-root --no-chroot) and with its own configuration file (-f):
// host name avahi-h<index>, the host's NICs only. Nothing of the machine's
// own Avahi, bus or network is touched. AvahiAvailable says whether the
// binaries are there.
//
// # Use
//
// Building a lab needs root and the ip command (nft for loss). Tests skip
// when Available says it cannot be done:
//
//	func TestDiscovery(t *testing.T) {
//		if err := netlab.Available(); err != nil {
//			t.Skip(err)
//		}
//		lab, err := netlab.New(t.Context(), netlab.Config{Hosts: 3, Loss: 10})
//		if err != nil {
//			t.Fatal(err)
//		}
//		defer lab.Close()
//
//		// A process in a host: ip netns exec <ns> udpserver ...
//		srv := lab.Host(0).Command(t.Context(), serverBinary, "-I", "eth0")
//
//		// Or a socket opened in-process inside a host's namespace.
//		var c *net.UDPConn
//		err = lab.Host(1).Do(func() (err error) {
//			c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 9999})
//			return err
//		})
//		...
//	}
package netlab
