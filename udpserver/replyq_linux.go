package udpserver

import (
	"encoding/binary"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgSender sends queued replies with sendmmsg on a *net.UDPConn. Its
// headers, iovecs and sockaddrs are allocated once, replyQueueSize each.
type mmsgSender struct {
	u     *udpConn
	rc    syscall.RawConn
	whs   []unix.Mmsghdr
	wiov  []unix.Iovec
	names []unix.RawSockaddrInet6
	fn    func(fd uintptr) bool // bound once
	from  int                   // first header the next sendmmsg sends
	len   int                   // headers filled
	n     int                   // result of the last system call
	errno syscall.Errno
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
		rc:    rc,
		whs:   make([]unix.Mmsghdr, replyQueueSize),
		wiov:  make([]unix.Iovec, replyQueueSize),
		names: make([]unix.RawSockaddrInet6, replyQueueSize),
	}
	m.fn = m.sendmmsg
	for i := range m.whs {
		m.whs[i].Hdr.Iov = &m.wiov[i]
		m.whs[i].Hdr.SetIovlen(1)
		m.whs[i].Hdr.Name = (*byte)(unsafe.Pointer(&m.names[i]))
	}
	return m
}

func (m *mmsgSender) sendmmsg(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&m.whs[m.from])), uintptr(m.len-m.from), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EINTR {
			continue
		}
		m.n, m.errno = int(r), e
		return e != unix.EAGAIN
	}
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
		h := &m.whs[k].Hdr
		h.Namelen = nl
		m.wiov[k].Base = &r.buf[0]
		m.wiov[k].SetLen(r.n)
		h.Control = nil
		h.SetControllen(0)
		if r.p.dst && usableSource(r.p.local.Addr()) {
			oob := appendPktinfo(r.p.woob[:0], m.u.v6, r.p.local.Addr(), r.p.ifindex)
			h.Control = &oob[0]
			h.SetControllen(len(oob))
		}
		k++
	}
	m.from, m.len = 0, k
	for m.from < m.len {
		if e := m.rc.Write(m.fn); e != nil {
			return failed + m.len - m.from, e // closed
		}
		if m.errno == 0 {
			m.from += m.n
			continue
		}
		// As writeBatch: a refused source is retried without one, any
		// other failure skips the message.
		h := &m.whs[m.from].Hdr
		if h.Control != nil {
			h.Control = nil
			h.SetControllen(0)
			continue
		}
		err = os.NewSyscallError("sendmmsg", m.errno)
		failed++
		m.from++
	}
	return failed, err
}
