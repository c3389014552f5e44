//go:build windows

package sockopt

import "syscall"

// ShareAddr lets several sockets bind the same address and port
// (SO_REUSEADDR; Windows has no SO_REUSEPORT).
func ShareAddr(c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// ShareAddrPort is ShareAddr here: Windows has no SO_REUSEPORT, and its
// SO_REUSEADDR already shares the port.
func ShareAddrPort(c syscall.RawConn) error { return ShareAddr(c) }

// MulticastAll does nothing: outside Linux a socket receives only the
// groups it joined itself.
func MulticastAll(c syscall.RawConn, v6, on bool) error { return nil }

// ReuseAddr does nothing on Windows, whose SO_REUSEADDR lets any socket
// take over a port: there each of a client's sockets gets its own port.
func ReuseAddr(c syscall.RawConn) error { return nil }
