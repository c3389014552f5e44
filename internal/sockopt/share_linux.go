package sockopt

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// ShareAddr lets several sockets, in one process or many, bind the same
// address and port, so that each receives every broadcast and multicast
// datagram sent there. On Linux that is SO_REUSEADDR alone: SO_REUSEPORT
// would make the kernel pick one socket of the group for a multicast
// datagram, so a socket that joined another group on the same port (with
// IP_MULTICAST_ALL off) could be picked and the datagram lost; it also ties
// the port to one user.
func ShareAddr(c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// ShareAddrPort lets this socket share its address and port with other
// programs' sockets that set SO_REUSEPORT, as mDNS responders on port 5353
// do (avahi-daemon, systemd-resolved, mDNSResponder): SO_REUSEADDR and
// SO_REUSEPORT. Use ShareAddr for udpkit's own shared ports (see there why).
func ShareAddrPort(c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// MulticastAll sets IP_MULTICAST_ALL (v6 false) or IPV6_MULTICAST_ALL
// (v6 true). Linux delivers every group joined on a port by any socket of
// the host to every socket bound to that port while it is on (the
// default); off, a socket receives only the groups it joined itself.
func MulticastAll(c syscall.RawConn, v6, on bool) error {
	v := 0
	if on {
		v = 1
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		if v6 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, v)
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, v)
	})
	if err != nil {
		return err
	}
	return serr
}
