//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package discovery

import (
	"fmt"
	"runtime"
	"syscall"
)

// reuseControl fails: this platform has no known way to share the
// discovery port between processes.
func reuseControl(network, address string, c syscall.RawConn) error {
	return fmt.Errorf("sharing the discovery port is not supported on %s", runtime.GOOS)
}
