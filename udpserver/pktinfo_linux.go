package udpserver

import (
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file reads and writes IP_PKTINFO / IPV6_PKTINFO control messages by
// hand, into and out of reused buffers: x/net's ControlMessage Parse and
// Marshal allocate on every datagram.

// isIPv6Socket reports whether c is an AF_INET6 socket (which, unless
// IPV6_V6ONLY is set, also carries IPv4 as IPv4-mapped addresses).
func isIPv6Socket(c *net.UDPConn, local netip.AddrPort) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return local.Addr().Is6()
	}
	domain := -1
	rc.Control(func(fd uintptr) {
		domain, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	})
	if domain == -1 {
		return local.Addr().Is6()
	}
	return domain == unix.AF_INET6
}

// enablePktinfo asks the kernel for the destination address and interface
// of every datagram. On a dual-stack AF_INET6 socket Linux reports IPv4
// datagrams in IPV6_PKTINFO too, as IPv4-mapped addresses.
func enablePktinfo(c *net.UDPConn, v6 bool) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if v6 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// parsePktinfo finds the destination address and interface index in the
// control messages of a received datagram.
func parsePktinfo(oob []byte) (addr netip.Addr, ifindex int, ok bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return addr, ifindex, ok
		}
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			info := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			addr, ifindex, ok = netip.AddrFrom4(info.Addr), int(info.Ifindex), true
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			info := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			addr, ifindex, ok = netip.AddrFrom16(info.Addr), int(info.Ifindex), true
		}
		oob = rest
	}
	return addr, ifindex, ok
}

// appendPktinfo appends to b (which must have room for it) the control
// message that makes a reply leave from src. The interface index is set only
// for an IPv6 link-local source, which means nothing without it: forcing the
// interface otherwise would make Linux treat the client as on-link there,
// and on a host with asymmetric or policy routing the reply would go, without
// an error, to the wrong link. The routing table picks the interface.
func appendPktinfo(b []byte, v6 bool, src netip.Addr, ifindex int) []byte {
	if !src.Is6() || !src.IsLinkLocalUnicast() {
		ifindex = 0
	}
	if v6 {
		n := unix.CmsgSpace(unix.SizeofInet6Pktinfo)
		b = b[:n]
		clear(b)
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
		info := (*unix.Inet6Pktinfo)(unsafe.Pointer(&b[unix.CmsgLen(0)]))
		info.Addr, info.Ifindex = src.As16(), uint32(ifindex)
		return b
	}
	n := unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	b = b[:n]
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	info := (*unix.Inet4Pktinfo)(unsafe.Pointer(&b[unix.CmsgLen(0)]))
	info.Spec_dst, info.Ifindex = src.Unmap().As4(), int32(ifindex)
	return b
}
