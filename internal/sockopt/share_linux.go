package sockopt

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// ShareAddr lets several sockets, in one process or many, bind the same
// address and port, so that each receives every broadcast and multicast
// datagram sent there. On Linux that is SO_REUSEADDR alone: SO_REUSEPORT
// would make the kernel pick one socket of the group for a multicast
// datagram, so a socket that joined another group on the same port (with
// IP_MULTICAST_ALL off) could be picked and the datagram lost; it also ties
// the port to one user.
func ShareAddr(c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
