package client

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// recvErr asks the kernel to report every ICMP error on the connected
// socket (IP_RECVERR / IPV6_RECVERR), not only port unreachable: without
// it Linux keeps host and network unreachable to itself, and ping could
// never say "Destination Host Unreachable".
func recvErr(network, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if network == "udp6" {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVERR, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// drainErrors empties the socket's error queue. With IP_RECVERR every ICMP
// error is also queued there, charged to the receive buffer; left alone,
// the queue would fill the buffer and make the kernel drop replies.
func drainErrors(c packetConn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 512)
	oob := make([]byte, 512)
	// Control, not Read: the reader goroutine may be blocked in Read,
	// holding the socket's read lock, while this runs from a writer.
	// MSG_DONTWAIT never blocks.
	rc.Control(func(fd uintptr) {
		for range 64 { // bounded: the queue holds at most a receive buffer's worth
			if _, _, _, _, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT); err != nil {
				break
			}
		}
	})
}
