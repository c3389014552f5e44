//go:build !linux

package udpserver

import (
	"errors"
	"net"
	"syscall"
)

// errNoReusePort: SO_REUSEPORT balances datagrams across sockets only on
// Linux (on the BSDs and macOS the last socket bound gets them all).
var errNoReusePort = errors.New("udpserver: SO_REUSEPORT load balancing needs Linux")

func setReusePort(c syscall.RawConn) error { return errNoReusePort }

func v6Only(c *net.UDPConn) (bool, error) { return false, errNoReusePort }

func setV6Only(c syscall.RawConn, on bool) error { return errNoReusePort }
