package client

import "syscall"

// reuseAddr does nothing on Windows, whose SO_REUSEADDR lets any socket
// take over a port: there each server's socket gets its own port, so a
// retransmission after a failover comes from another sender.
func reuseAddr(_, _ string, _ syscall.RawConn) error { return nil }
