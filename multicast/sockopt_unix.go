//go:build unix && !linux

package multicast

import (
	"log/slog"
	"syscall"

	"golang.org/x/sys/unix"
)

// socketControl returns the net.ListenConfig.Control function that sets
// the socket options before bind. Outside Linux a socket receives only the
// groups it joined, so only SO_REUSEADDR (and SO_REUSEPORT, which BSD
// systems need for several multicast listeners on one port) is set.
func socketControl(v6, reuse bool, log *slog.Logger) func(network, address string, rc syscall.RawConn) error {
	return func(network, address string, rc syscall.RawConn) error {
		if !reuse {
			return nil
		}
		var serr error
		err := rc.Control(func(fd uintptr) {
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
}
