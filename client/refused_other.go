//go:build !windows

package client

import (
	"errors"
	"syscall"
)

// isRefused reports whether err is the socket's report of an ICMP port
// unreachable on a connected UDP socket.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// isUnreachable reports whether err is the socket's report of an ICMP host
// or network unreachable (or the local system's: no neighbour answered).
func isUnreachable(err error) bool {
	return errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}
