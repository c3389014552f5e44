//go:build !windows

package client

import "syscall"

// reuseAddr sets SO_REUSEADDR, so that a ServiceClient's sockets to
// different servers can share one local port: each is connected to its
// server, and the kernel hands each reply to the socket whose peer sent it.
func reuseAddr(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
