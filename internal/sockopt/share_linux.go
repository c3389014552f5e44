package sockopt

import (
	"fmt"
	"syscall"

	"golang.org/x/net/bpf"
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

// ReusePort sets SO_REUSEPORT, before or after bind: sockets of one user
// bound to one address and port with it form a group over which the
// kernel spreads incoming datagrams (by a hash of the 4-tuple, or by the
// program AttachReusePortCBPF attaches (or replaces)).
func ReusePort(c syscall.RawConn) error {
	return setInt(c, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}

// ReuseAddr sets SO_REUSEADDR alone, so that sockets connected to
// different peers can share one local port (the kernel hands each reply to
// the socket whose peer sent it).
func ReuseAddr(c syscall.RawConn) error {
	return setInt(c, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
}

// V6Only reports IPV6_V6ONLY of an AF_INET6 socket, so that a sibling
// socket can match it.
func V6Only(c syscall.RawConn) (bool, error) {
	var v int
	var serr error
	if err := c.Control(func(fd uintptr) {
		v, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
	}); err != nil {
		return false, err
	}
	return v == 1, serr
}

// SetV6Only sets IPV6_V6ONLY, before bind.
func SetV6Only(c syscall.RawConn, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return setInt(c, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v)
}

// AttachReusePortCBPF attaches (or replaces) a classic BPF program to the SO_REUSEPORT
// group of the socket (SO_ATTACH_REUSEPORT_CBPF): it then picks, for every
// datagram, the index of the group's socket that receives it, in the order
// the sockets were bound (an index past the last socket falls back to the
// kernel's hash). One socket of the group is enough; the program serves
// them all, and attaching another replaces it. See Spread.
func AttachReusePortCBPF(c syscall.RawConn, prog []bpf.RawInstruction) error {
	if len(prog) == 0 || len(prog) > 4096 {
		return fmt.Errorf("sockopt: SO_ATTACH_REUSEPORT_CBPF: %d instructions, want 1 to 4096", len(prog))
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fp := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fp)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("sockopt: SO_ATTACH_REUSEPORT_CBPF: %w", serr)
	}
	return nil
}

func setInt(c syscall.RawConn, level, opt, v int) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), level, opt, v)
	})
	if err != nil {
		return err
	}
	return serr
}
