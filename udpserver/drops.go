package udpserver

import (
	"errors"
	"syscall"
)

// ErrDropsUnsupported is returned by SocketDrops where the operating system
// does not report per-socket drops.
var ErrDropsUnsupported = errors.New("udpserver: per-socket drop counts are not available on this system")

// SocketDrops returns how many datagrams the kernel dropped, since they were
// opened, on the sockets the server is serving now, before the server could
// read them: almost always because a socket's receive buffer was full (a
// burst the workers could not keep up with). It reads the kernel's counters
// (Linux: the drops column of /proc/net/udp and /proc/net/udp6, which is
// what SO_RXQ_OVFL reports per datagram) and costs the hot path nothing.
func (s *Server) SocketDrops() (uint64, error) {
	s.init()
	s.mu.Lock()
	var rcs []syscall.RawConn
	for pc := range s.conns {
		if sc, ok := pc.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				rcs = append(rcs, rc)
			}
		}
	}
	s.mu.Unlock()
	return socketDrops(rcs)
}
