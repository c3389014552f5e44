package udpserver

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// memInfo reads a socket's SO_MEMINFO: the bytes in its receive queue,
// its receive buffer and the datagrams it dropped, in one getsockopt and
// without allocating (the function is bound once).
type memInfo struct {
	rc                  syscall.RawConn
	fn                  func(fd uintptr)
	v                   [unix.SK_MEMINFO_VARS]uint32
	ok                  bool
	rmem, rcvbuf, drops uint32
}

func newMemInfo(rc syscall.RawConn) (*memInfo, error) {
	m := &memInfo{rc: rc}
	m.fn = m.get
	if !m.read() {
		return nil, syscall.ENOPROTOOPT
	}
	return m, nil
}

func (m *memInfo) get(fd uintptr) {
	l := uint32(unsafe.Sizeof(m.v))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO, uintptr(unsafe.Pointer(&m.v[0])), uintptr(unsafe.Pointer(&l)), 0)
	m.ok = e == 0 && l >= uint32(unsafe.Sizeof(m.v))
}

// read refreshes rmem, rcvbuf and drops; false if the socket is closed
// or the kernel does not tell.
func (m *memInfo) read() bool {
	m.ok = false
	if err := m.rc.Control(m.fn); err != nil || !m.ok {
		return false
	}
	m.rmem, m.rcvbuf, m.drops = m.v[unix.SK_MEMINFO_RMEM_ALLOC], m.v[unix.SK_MEMINFO_RCVBUF], m.v[unix.SK_MEMINFO_DROPS]
	return true
}
