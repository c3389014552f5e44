package multicast

import (
	"log/slog"
	"syscall"

	"github.com/udpkit/udpkit/internal/sockopt"

	"golang.org/x/sys/unix"
)

// socketControl returns the net.ListenConfig.Control function that sets
// the socket options before bind. On Linux it turns IP_MULTICAST_ALL (or
// IPV6_MULTICAST_ALL, Linux 4.20 and later) off: by default a socket bound
// to a port receives every group that any socket of the host joined on
// that port, not only its own. Read also filters by destination, so a
// kernel without the IPv6 option only costs a log line.
func socketControl(v6, reuse bool, log *slog.Logger) func(network, address string, rc syscall.RawConn) error {
	return func(network, address string, rc syscall.RawConn) error {
		if reuse {
			if err := sockopt.ShareAddr(rc); err != nil {
				return err
			}
		}
		var serr error
		err := rc.Control(func(fd uintptr) {
			if v6 {
				if e := unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0); e != nil {
					log.Debug("multicast: IPV6_MULTICAST_ALL not supported; filtering by destination only", "err", e)
				}
				return
			}
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
		})
		if err != nil {
			return err
		}
		return serr
	}
}
