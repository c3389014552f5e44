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
