//go:build !unix && !windows

package sockopt

import (
	"fmt"
	"runtime"
	"syscall"
)

// ShareAddr fails: this platform has no known way to share a port.
func ShareAddr(c syscall.RawConn) error {
	return fmt.Errorf("sharing a port on %s: %w", runtime.GOOS, ErrUnsupported)
}
