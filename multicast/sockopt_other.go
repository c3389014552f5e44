//go:build !unix

package multicast

import (
	"errors"
	"log/slog"
	"syscall"
)

// errNoReuse: the platform has no SO_REUSEADDR support in this package.
var errNoReuse = errors.New("multicast: ReuseAddr is not supported on this platform")

// socketControl returns the net.ListenConfig.Control function that sets
// the socket options before bind. Here no option is available, so a
// requested ReuseAddr is an error rather than silently ignored.
func socketControl(v6, reuse bool, log *slog.Logger) func(network, address string, rc syscall.RawConn) error {
	return func(network, address string, rc syscall.RawConn) error {
		if reuse {
			return errNoReuse
		}
		return nil
	}
}
