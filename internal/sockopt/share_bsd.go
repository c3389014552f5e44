//go:build unix && !linux

package sockopt

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// ShareAddr lets several sockets, in one process or many, bind the same
// address and port, so that each receives every broadcast and multicast
// datagram sent there: macOS and the BSDs need SO_REUSEPORT for that, next
// to SO_REUSEADDR.
func ShareAddr(c syscall.RawConn) error {
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

// ShareAddrPort is ShareAddr here: both options already.
func ShareAddrPort(c syscall.RawConn) error { return ShareAddr(c) }

// MulticastAll does nothing: outside Linux a socket receives only the
// groups it joined itself.
func MulticastAll(c syscall.RawConn, v6, on bool) error { return nil }

// ReuseAddr sets SO_REUSEADDR alone, so that sockets connected to
// different peers can share one local port (the kernel hands each reply to
// the socket whose peer sent it).
func ReuseAddr(c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
