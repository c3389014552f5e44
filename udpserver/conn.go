package udpserver

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/udpkit/udpkit/internal/netaddr"
)

// conn is the I/O layer of one socket: how datagrams arrive and how replies
// leave. The protocol (process) never touches a socket, so this seam is
// where batch I/O (recvmmsg/sendmmsg) or several SO_REUSEPORT sockets plug
// in. read and write are called by one worker at a time for a given packet;
// several workers may share a conn.
type conn interface {
	// read blocks for the next datagram and fills p.buf[:p.n], p.remote,
	// p.local, p.ifindex and p.dst.
	read(p *packet) error
	// write sends b to p's sender, from the address p was sent to.
	write(p *packet, b []byte) error
}

func newConn(pc net.PacketConn, log *slog.Logger) conn {
	if uc, ok := pc.(*net.UDPConn); ok {
		return newUDPConn(uc, log)
	}
	return &genericConn{pc: pc, local: netaddr.AddrPort(pc.LocalAddr())}
}

// udpConn serves a *net.UDPConn without allocating: ReadMsgUDPAddrPort and
// WriteMsgUDPAddrPort with reused buffers, and on a wildcard bind the
// destination address from IP_PKTINFO / IPV6_PKTINFO, which becomes the
// source of the reply (see pktinfo_*.go).
type udpConn struct {
	c       *net.UDPConn
	v6      bool           // AF_INET6 socket (perhaps dual-stack)
	pktinfo bool           // destination addresses arrive in control messages
	local   netip.AddrPort // bound address; its port completes a PKTINFO address

	// Blocking reads (recvwait_linux.go), per socket: whether it was
	// switched to blocking mode, and whether its reads must end.
	waitOnce sync.Once
	waitOK   atomic.Bool
	stopped  atomic.Bool

	// readers counts the batch workers reading the socket (batch_linux.go:
	// with more than one, replies do not wait for the read lock).
	readers atomic.Int32
}

func newUDPConn(c *net.UDPConn, log *slog.Logger) *udpConn {
	u := &udpConn{c: c, local: netaddr.AddrPort(c.LocalAddr())}
	u.v6 = isIPv6Socket(c, u.local)
	if u.local.Addr().IsUnspecified() {
		if err := enablePktinfo(c, u.v6); err != nil {
			// Replies still work; they leave from the address the kernel
			// picks, which on a multi-homed host may not be the one the
			// client used.
			log.Warn("udpserver: cannot learn destination addresses; replies leave from the kernel's choice", "local", u.local, "err", err)
		} else {
			u.pktinfo = true
		}
	}
	return u
}

func (u *udpConn) read(p *packet) error {
	n, oobn, _, ap, err := u.c.ReadMsgUDPAddrPort(p.buf, p.oob)
	if err != nil {
		return err
	}
	p.n, p.remote, p.local, p.ifindex, p.dst = n, ap, u.local, 0, false
	if u.pktinfo {
		if addr, ifindex, ok := parsePktinfo(p.oob[:oobn]); ok {
			p.local, p.ifindex, p.dst = netip.AddrPortFrom(addr, u.local.Port()), ifindex, true
		} else {
			p.local = netip.AddrPort{} // wildcard: unknown
		}
	}
	return nil
}

func (u *udpConn) write(p *packet, b []byte) error {
	var oob []byte
	if p.dst && usableSource(p.local.Addr()) {
		oob = appendPktinfo(p.woob[:0], u.v6, p.local.Addr(), p.ifindex)
	}
	_, _, err := u.c.WriteMsgUDPAddrPort(b, oob, p.remote)
	if err != nil && oob != nil {
		// The kernel may refuse the source (a subnet broadcast address,
		// say); a reply from its own choice beats no reply.
		_, _, err = u.c.WriteMsgUDPAddrPort(b, nil, p.remote)
	}
	return err
}

// usableSource reports whether a datagram's destination address can be the
// source of the reply: not for multicast or broadcast destinations.
func usableSource(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// genericConn serves any other net.PacketConn through ReadFrom and WriteTo
// (which may allocate). It replies to the net.Addr it read.
type genericConn struct {
	pc    net.PacketConn
	local netip.AddrPort
}

func (g *genericConn) read(p *packet) error {
	n, addr, err := g.pc.ReadFrom(p.buf)
	if err != nil {
		return err
	}
	p.n, p.addr, p.remote, p.local, p.ifindex, p.dst = n, addr, netaddr.AddrPort(addr), g.local, 0, false
	if g.local.Addr().IsUnspecified() {
		p.local = netip.AddrPort{}
	}
	return nil
}

func (g *genericConn) write(p *packet, b []byte) error {
	_, err := g.pc.WriteTo(b, p.addr)
	return err
}
