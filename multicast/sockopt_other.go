//go:build !linux

package multicast

import (
	"log/slog"
	"syscall"

	"github.com/udpkit/udpkit/internal/sockopt"
)

// socketControl returns the net.ListenConfig.Control function that sets
// the socket options before bind. Outside Linux a socket receives only the
// groups it joined, so the only option is sharing the port (ReuseAddr),
// which is an error where the platform cannot do it.
func socketControl(v6, reuse bool, log *slog.Logger) func(network, address string, rc syscall.RawConn) error {
	return func(network, address string, rc syscall.RawConn) error {
		if reuse {
			return sockopt.ShareAddr(rc)
		}
		return nil
	}
}
