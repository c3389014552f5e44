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

// isUnreachable reports whether err is the socket's report of an ICMP host
// or network unreachable.
func isUnreachable(err error) bool {
	return errors.Is(err, syscall.Errno(wsaeHostUnreach)) || errors.Is(err, syscall.Errno(wsaeNetUnreach))
}

// Winsock error codes (winerror.h) that package syscall does not name.
const (
	wsaeNetUnreach  = 10051
	wsaeHostUnreach = 10065
)
