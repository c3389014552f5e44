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

// ShareAddrPort fails: this platform has no known way to share a port.
func ShareAddrPort(c syscall.RawConn) error {
	return fmt.Errorf("sharing a port on %s: %w", runtime.GOOS, ErrUnsupported)
}

// MulticastAll does nothing: outside Linux a socket receives only the
// groups it joined itself.
func MulticastAll(c syscall.RawConn, v6, on bool) error { return nil }

// ReuseAddr fails: this platform has no known way to share a port.
func ReuseAddr(c syscall.RawConn) error {
	return fmt.Errorf("sharing a port on %s: %w", runtime.GOOS, ErrUnsupported)
}
