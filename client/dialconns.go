package client

import (
	"context"
	"fmt"
	"net"
)

// DialConns resolves address as Dial does (Resolve: the same errors, a
// malformed address or unknown name matching ErrBadAddress) and returns n
// UDP sockets connected to its first address, each with a source port of
// its own: the sockets of BenchAll, which a server with SO_REUSEPORT
// spreads across its sockets. Unlike Dial it sends nothing. On an error
// no socket stays open.
func DialConns(ctx context.Context, address string, n int) ([]*net.UDPConn, error) {
	if n < 1 {
		return nil, fmt.Errorf("client: %d sockets: want 1 or more", n)
	}
	aps, err := Resolve(ctx, address)
	if err != nil {
		return nil, err
	}
	raddr := net.UDPAddrFromAddrPort(aps[0])
	conns := make([]*net.UDPConn, 0, n)
	for range n {
		c, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("dial %s: %w", address, err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}
