//go:build windows

package discovery

import "syscall"

// reuseControl lets several processes bind the discovery port
// (SO_REUSEADDR; Windows has no SO_REUSEPORT).
func reuseControl(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
