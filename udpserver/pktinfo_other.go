//go:build !linux

package udpserver

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// On systems other than Linux the control messages go through x/net's
// portable ControlMessage, which allocates a little per datagram.

// isIPv6Socket reports whether c is an IPv6 socket, judged by its address.
func isIPv6Socket(c *net.UDPConn, local netip.AddrPort) bool {
	return local.Addr().Is6() && !local.Addr().Is4In6()
}

// enablePktinfo asks the kernel for the destination address and interface
// of every datagram.
func enablePktinfo(c *net.UDPConn, v6 bool) error {
	if v6 {
		return ipv6.NewPacketConn(c).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
	}
	return ipv4.NewPacketConn(c).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
}

// parsePktinfo finds the destination address and interface index in the
// control messages of a received datagram.
func parsePktinfo(oob []byte) (addr netip.Addr, ifindex int, ok bool) {
	var cm6 ipv6.ControlMessage
	if cm6.Parse(oob) == nil && cm6.Dst != nil {
		if a, ok := netip.AddrFromSlice(cm6.Dst); ok {
			return a, cm6.IfIndex, true
		}
	}
	var cm4 ipv4.ControlMessage
	if cm4.Parse(oob) == nil && cm4.Dst != nil {
		if a, ok := netip.AddrFromSlice(cm4.Dst.To4()); ok {
			return a, cm4.IfIndex, true
		}
	}
	return addr, 0, false
}

// appendPktinfo appends the control message that makes a reply leave from
// src through interface ifindex.
func appendPktinfo(b []byte, v6 bool, src netip.Addr, ifindex int) []byte {
	if v6 {
		a := src.As16()
		cm := ipv6.ControlMessage{Src: a[:], IfIndex: ifindex}
		return append(b, cm.Marshal()...)
	}
	a := src.Unmap().As4()
	cm := ipv4.ControlMessage{Src: a[:], IfIndex: ifindex}
	return append(b, cm.Marshal()...)
}
