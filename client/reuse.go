package client

import (
	"syscall"

	"github.com/udpkit/udpkit/internal/sockopt"
)

// reuseAddr lets a ServiceClient's sockets to different servers share one
// local port: each is connected to its server, and the kernel hands each
// reply to the socket whose peer sent it (sockopt.ReuseAddr; nothing on
// Windows, whose SO_REUSEADDR would let any socket take the port over:
// there each server's socket gets its own port, so a retransmission after
// a failover comes from another sender).
func reuseAddr(_, _ string, c syscall.RawConn) error { return sockopt.ReuseAddr(c) }
