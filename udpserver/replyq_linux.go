package udpserver

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgSender sends queued replies with sendmmsg on a *net.UDPConn. Its
// headers, iovecs and sockaddrs are allocated once, replyQueueSize each.
type mmsgSender struct {
	u     *udpConn
	w     mmsgWriter
	names []unix.RawSockaddrInet6
}

func newReplySender(c conn) replySender {
	u, ok := c.(*udpConn)
	if !ok {
		return connSender{c}
	}
	rc, err := u.c.SyscallConn()
	if err != nil {
		return connSender{c}
	}
	m := &mmsgSender{
		u:     u,
		names: make([]unix.RawSockaddrInet6, replyQueueSize),
	}
	m.w.init(rc, replyQueueSize)
	for i := range m.w.whs {
		m.w.whs[i].Hdr.Name = (*byte)(unsafe.Pointer(&m.names[i]))
	}
	return m
}

// sockaddr encodes a reply's destination into sa as the socket's family
// expects, returning its length; 0 when it cannot (an IPv6 zone, which
// the one-write path resolves).
func (m *mmsgSender) sockaddr(sa *unix.RawSockaddrInet6, r *queuedReply) uint32 {
	ap := r.p.remote
	a := ap.Addr()
	if a.Zone() != "" || !a.IsValid() {
		return 0
	}
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], ap.Port())
	if !m.u.v6 {
		if !a.Unmap().Is4() {
			return 0
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Unmap().As4()}
		sa4.Port = *(*uint16)(unsafe.Pointer(&port[0]))
		return unix.SizeofSockaddrInet4
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
	sa.Port = *(*uint16)(unsafe.Pointer(&port[0]))
	return unix.SizeofSockaddrInet6
}

func (m *mmsgSender) send(rs []*queuedReply) (failed int, err error) {
	k := 0
	for _, r := range rs {
		nl := m.sockaddr(&m.names[k], r)
		if nl == 0 || r.n == 0 {
			if e := m.u.write(&r.p, r.buf[:r.n]); e != nil {
				failed, err = failed+1, e
			}
			continue
		}
		h := &m.w.whs[k].Hdr
		h.Namelen = nl
		m.w.wiov[k].Base = &r.buf[0]
		m.w.wiov[k].SetLen(r.n)
		h.Control = nil
		h.SetControllen(0)
		if r.p.dst && usableSource(r.p.local.Addr()) {
			oob := appendPktinfo(r.p.woob[:0], m.u.v6, r.p.local.Addr(), r.p.ifindex)
			h.Control = &oob[0]
			h.SetControllen(len(oob))
		}
		k++
	}
	f, e := m.w.send(k)
	if e != nil {
		err = e
	}
	return failed + f, err
}
