package udpserver

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file is batch I/O on Linux: recvmmsg reads up to BatchSize
// datagrams in one system call and sendmmsg sends their replies in one.
//
// It calls the system calls itself, through the socket's syscall.RawConn
// (so deadlines and the runtime's poller work as for any net.Conn), rather
// than through golang.org/x/net's ipv4.PacketConn.ReadBatch: x/net reports
// each sender as a new *net.UDPAddr, two allocations per datagram
// (BenchmarkXNetReadBatch measures them), while this file decodes the
// sender's sockaddr into a netip.AddrPort in place. The mmsghdr, iovec,
// sockaddr and control-message buffers are allocated once per worker.

const batchSupported = true

// batchUDPConn is a batchConn over a *net.UDPConn.
type batchUDPConn struct {
	u  *udpConn
	rc syscall.RawConn

	pkts    []*packet
	rhs     []unix.Mmsghdr          // read headers, one per packet
	riov    []unix.Iovec            // read iovecs, one per packet
	rname   []unix.RawSockaddrInet6 // senders, large enough for both families
	w       mmsgWriter              // write headers, one per reply
	flags   int                     // recvmmsg flags
	n       int                     // result of the last system call
	dirty   int                     // read headers the last recvmmsg filled
	blocked bool                    // a read callback found the send buffer full and did not read
	errno   syscall.Errno           // error of the last system call
	rfn     func(fd uintptr) bool   // bound once: a method value per call would allocate
	wfn     func(fd uintptr) bool   // recvmmsgWait, bound once
	wait    waitState               // blocking reads (recvwait_linux.go)
	zones   map[uint32]string       // scope ID -> zone name, filled once per interface
	zmu     sync.Mutex
}

func newBatchConn(c conn, size, maxDatagram int) batchConn {
	u, ok := c.(*udpConn)
	if !ok || size <= 1 {
		return nil
	}
	rc, err := u.c.SyscallConn()
	if err != nil {
		return nil
	}
	b := &batchUDPConn{
		u:     u,
		rc:    rc,
		pkts:  make([]*packet, size),
		rhs:   make([]unix.Mmsghdr, size),
		riov:  make([]unix.Iovec, size),
		rname: make([]unix.RawSockaddrInet6, size),
		// MSG_DONTWAIT: RawSyscall6 must never block, even if a dup of
		// the fd (os.File.Fd) switched the socket to blocking mode.
		flags: unix.MSG_WAITFORONE | unix.MSG_DONTWAIT,
	}
	b.rfn, b.wfn = b.recvmmsg, b.recvmmsgWait
	u.readers.Add(1)
	b.initWait()
	b.w.init(rc, size)
	b.dirty = size // every header needs its lengths set before the first read
	for i := range b.pkts {
		p := newPacket(maxDatagram)
		b.pkts[i] = p
		b.riov[i].Base = &p.buf[0]
		b.riov[i].SetLen(len(p.buf))
		h := &b.rhs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.rname[i]))
		h.Iov = &b.riov[i]
		h.SetIovlen(1)
		if u.pktinfo {
			h.Control = &p.oob[0]
		}
	}
	return b
}

func (b *batchUDPConn) packets() []*packet { return b.pkts }

// recvmmsg and sendmmsg use RawSyscall6, not Syscall6: with MSG_DONTWAIT
// (the runtime's poller does the waiting) neither call can block, even on
// a socket in blocking mode (recvwait_linux.go), and skipping entersyscall/exitsyscall keeps the scheduler from
// handing the P to another thread while a long sendmmsg runs. On loopback
// at 64 requests in flight that was ~20% of the server's time in context
// switches (BENCHMARKS.md).
func (b *batchUDPConn) recvmmsg(fd uintptr) bool {
	if !b.sendFirst(fd) {
		return true
	}
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rhs[0])), uintptr(len(b.rhs)), uintptr(b.flags), 0, 0)
		if e == unix.EINTR {
			continue
		}
		b.n, b.errno = int(r), e
		return e != unix.EAGAIN
	}
}

func (b *batchUDPConn) readBatch() (int, error) {
	// Only the headers the last call filled were changed by the kernel
	// (dirty); the rest still hold what the loop below set.
	for i := range b.dirty {
		h := &b.rhs[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		if b.u.pktinfo {
			h.SetControllen(oobSize)
		}
		h.Flags = 0
	}
	b.dirty = len(b.rhs) // until a call succeeds: errors may leave anything
	fn := b.rfn
	if b.waits() {
		fn = b.wfn
	}
	if err := b.rc.Read(fn); err != nil {
		return 0, err
	}
	if b.blocked {
		return 0, nil // exchange reads once the replies are out
	}
	if b.u.stopped.Load() {
		return 0, errStopped
	}
	if b.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", b.errno)
	}
	b.dirty = b.n
	u := b.u
	for i := range b.n {
		p, h := b.pkts[i], &b.rhs[i]
		p.n, p.local, p.ifindex, p.dst = int(h.Len), u.local, 0, false
		if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
			p.n = len(p.buf) + 1 // too large, as process expects
		}
		p.remote = b.sender(&b.rname[i])
		if u.pktinfo {
			if addr, ifindex, ok := parsePktinfo(p.oob[:h.Hdr.Controllen]); ok {
				p.local, p.ifindex, p.dst = netip.AddrPortFrom(addr, u.local.Port()), ifindex, true
			} else {
				p.local = netip.AddrPort{}
			}
		}
	}
	return b.n, nil
}

// sender decodes a sockaddr written by recvmmsg.
func (b *batchUDPConn) sender(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), ntohs(sa4.Port))
	case unix.AF_INET6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			a = a.WithZone(b.zone(sa.Scope_id))
		}
		return netip.AddrPortFrom(a, ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

// zone names an IPv6 scope ID as net does: the interface name, or the
// number when the interface is gone. Names are cached; there are as many
// as the host has interfaces.
func (b *batchUDPConn) zone(id uint32) string {
	b.zmu.Lock()
	defer b.zmu.Unlock()
	if z, ok := b.zones[id]; ok {
		return z
	}
	z := strconv.FormatUint(uint64(id), 10)
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		z = ifi.Name
	}
	if b.zones == nil {
		b.zones = make(map[uint32]string)
	}
	b.zones[id] = z
	return z
}

// mmsgWriter sends filled write headers with sendmmsg, for the batch
// replies and for the queue of deferred replies (replyq_linux.go).
type mmsgWriter struct {
	rc     syscall.RawConn
	whs    []unix.Mmsghdr
	wiov   []unix.Iovec
	fn     func(fd uintptr) bool // sendNow, bound once: a method value per call would allocate
	from   int                   // first header the next sendmmsg sends
	len    int                   // headers filled
	failed int                   // headers given up on since start
	err    error                 // the last of their errors
}

// init allocates size headers, each with its own iovec.
func (w *mmsgWriter) init(rc syscall.RawConn, size int) {
	w.rc = rc
	w.whs = make([]unix.Mmsghdr, size)
	w.wiov = make([]unix.Iovec, size)
	w.fn = w.sendNow
	for i := range w.whs {
		w.whs[i].Hdr.Iov = &w.wiov[i]
		w.whs[i].Hdr.SetIovlen(1)
	}
}

// start makes the first k headers the ones to send.
func (w *mmsgWriter) start(k int) { w.from, w.len, w.failed, w.err = 0, k, 0, nil }

// pending reports whether headers are left to send.
func (w *mmsgWriter) pending() bool { return w.from < w.len }

// sendNow sends the headers left on fd in as few sendmmsg calls as the
// kernel allows, without waiting: it returns false, with headers left,
// when the socket's send buffer is full (EAGAIN). When a message fails and
// carries a source address, the kernel may refuse that source (a subnet
// broadcast address, say): it is sent again without one, since a reply
// from the kernel's choice beats no reply. Any other failure skips the
// message (counted in failed). RawSyscall6: with MSG_DONTWAIT it cannot
// block (see recvmmsg).
func (w *mmsgWriter) sendNow(fd uintptr) bool {
	for w.from < w.len {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.whs[w.from])), uintptr(w.len-w.from), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			w.from += int(r)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			if h := &w.whs[w.from].Hdr; h.Control != nil {
				h.Control = nil
				h.SetControllen(0)
				continue
			}
			w.failed, w.err = w.failed+1, os.NewSyscallError("sendmmsg", e)
			w.from++
		}
	}
	return true
}

// finish sends the headers left through the socket's RawConn, waiting in
// the poller while the send buffer is full. It returns how many headers
// since start could not be sent and the last error.
func (w *mmsgWriter) finish() (failed int, err error) {
	if w.pending() {
		if e := w.rc.Write(w.fn); e != nil { // closed
			w.failed, w.err = w.failed+w.len-w.from, e
			w.from = w.len
		}
	}
	return w.failed, w.err
}

// send sends the first k headers (see sendNow) and returns how many could
// not be sent and the last error.
func (w *mmsgWriter) send(k int) (failed int, err error) {
	w.start(k)
	return w.finish()
}

// exchange sends outs[i] to the sender of packet i for every non-nil
// outs[i] with i < n, then reads the next batch into the packets. The
// replies leave from inside the read's RawConn callback, just before its
// recvmmsg, so that a batch costs one RawConn call (its fd lock and
// poller reset) rather than two; they take a RawConn write of their own
// only when the send buffer is full or the read fails before its callback
// runs (a read deadline: Shutdown), so a batch's replies are always sent,
// even by a worker that then stops. With several batch workers on the
// socket the replies take a RawConn write of their own first: the read
// lock may be held by another worker waiting for a datagram (in recvmmsg
// or in the poller), which would hold them up until one arrives. It
// returns how many replies could not be sent and the last error, then the
// read's results.
func (b *batchUDPConn) exchange(n int, outs [][]byte) (failed int, werr error, next int, err error) {
	b.w.start(b.fill(n, outs))
	if b.u.readers.Load() > 1 {
		failed, werr = b.w.finish()
		next, err = b.readBatch()
		return failed, werr, next, err
	}
	next, err = b.readBatch()
	// Replies left: the callback stopped at a full send buffer, or never
	// ran; finish costs nothing when the callback sent them all.
	failed, werr = b.w.finish()
	if b.blocked {
		b.blocked = false
		next, err = b.readBatch()
	}
	return failed, werr, next, err
}

// fill fills a write header for each non-nil outs[i], i < n, and returns
// how many.
func (b *batchUDPConn) fill(n int, outs [][]byte) int {
	u, m := b.u, 0
	for i := range n {
		out := outs[i]
		if out == nil {
			continue
		}
		p, h := b.pkts[i], &b.w.whs[m]
		b.w.wiov[m].Base = &out[0]
		b.w.wiov[m].SetLen(len(out))
		// The reply goes back to the sockaddr recvmmsg wrote, as it is
		// (family, scope ID and all): no re-encoding. So it must leave
		// before the next recvmmsg overwrites that sockaddr.
		h.Hdr.Name = (*byte)(unsafe.Pointer(&b.rname[i]))
		h.Hdr.Namelen = b.rhs[i].Hdr.Namelen
		h.Hdr.Control = nil
		h.Hdr.SetControllen(0)
		if p.dst && usableSource(p.local.Addr()) {
			oob := appendPktinfo(p.woob[:0], u.v6, p.local.Addr(), p.ifindex)
			h.Hdr.Control = &oob[0]
			h.Hdr.SetControllen(len(oob))
		}
		m++
	}
	return m
}

// sendFirst is the start of both read callbacks: it sends the previous
// batch's replies. It returns false when the send buffer is full: the
// callback then returns without reading (blocked), and exchange finishes
// the replies through a RawConn write before it reads.
func (b *batchUDPConn) sendFirst(fd uintptr) bool {
	if b.w.sendNow(fd) {
		return true
	}
	b.blocked, b.n, b.errno = true, 0, 0
	return false
}

// ntohs converts a port from the sockaddr's byte order (big endian, stored
// in a native uint16) to a number.
func ntohs(v uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&v))
	return uint16(b[0])<<8 | uint16(b[1])
}
