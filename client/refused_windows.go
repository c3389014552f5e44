package client

import (
	"errors"
	"syscall"
)

// isRefused reports whether err is the socket's report of an ICMP port
// unreachable on a connected UDP socket; Windows says WSAECONNRESET.
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.WSAECONNRESET)
}
