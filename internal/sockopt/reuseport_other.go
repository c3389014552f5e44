//go:build !linux

package sockopt

import (
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/net/bpf"
)

// ReusePort fails outside Linux: elsewhere SO_REUSEPORT does not spread
// datagrams over a group (on the BSDs and macOS the last socket bound gets
// them all), which is what its callers want it for.
func ReusePort(c syscall.RawConn) error {
	return fmt.Errorf("SO_REUSEPORT load balancing on %s: %w", runtime.GOOS, ErrUnsupported)
}

// V6Only fails outside Linux (only ReusePort's siblings need it).
func V6Only(c syscall.RawConn) (bool, error) {
	return false, fmt.Errorf("IPV6_V6ONLY on %s: %w", runtime.GOOS, ErrUnsupported)
}

// SetV6Only fails outside Linux (only ReusePort's siblings need it).
func SetV6Only(c syscall.RawConn, on bool) error {
	return fmt.Errorf("IPV6_V6ONLY on %s: %w", runtime.GOOS, ErrUnsupported)
}

// AttachReusePortCBPF fails outside Linux: SO_ATTACH_REUSEPORT_CBPF is
// Linux's.
func AttachReusePortCBPF(c syscall.RawConn, prog []bpf.RawInstruction) error {
	return fmt.Errorf("SO_ATTACH_REUSEPORT_CBPF on %s: %w", runtime.GOOS, ErrUnsupported)
}
