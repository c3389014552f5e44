package udpserver

import (
	"errors"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file is the blocking receive of batch I/O on Linux: with more than
// one P (GOMAXPROCS > 1), a worker whose socket ran dry waits inside
// recvmmsg, as the C reference server does, instead of in the runtime's
// poller.
//
// Why: through the poller, an empty socket costs a failed recvmmsg
// (EAGAIN), a goroutine park, one or two epoll_pwait in the scheduler and
// the recvmmsg again once woken: at one request in flight with server and
// client on different cores, that is nearly every exchange (BENCHMARKS.md:
// 1.83 recvmmsg and 1.67 epoll_pwait per exchange against C's one
// recvmmsg). A blocking recvmmsg through Syscall6 (entersyscall, so that
// GC and the other goroutines go on while the thread sleeps) costs one
// system call; with another P idle, sysmon does not take this one away
// while it sleeps (it retakes a P blocked in a system call only when
// there is other work and nobody to do it, or after 10 ms), so the thread
// resumes without a hand-off. Its price is sysmon: it never sleeps deeply
// while a P is in a system call, and every retake (the other P busy) sets
// it back to its 20 µs tick, 0.5–0.6 µs of CPU per exchange when measured
// unpinned (BENCHMARKS.md, session 6).
//
// With one P (GOMAXPROCS 1: a one-core machine, or taskset to one core)
// the same call is a loss: sysmon then takes the P from every system call
// that lasts past its 20 µs tick and the thread must win it back, so the
// worker waits in the poller as before (measured: BENCHMARKS.md).
//
// The socket is switched to blocking mode once; the poller path passes
// MSG_DONTWAIT on every call, so both paths work on it and a worker
// chooses per read. A read deadline only wakes goroutines parked in the
// poller, so Shutdown and Close first call stopReads, which wakes the
// sleepers with shutdown(SHUT_RD). SO_RCVTIMEO bounds each sleep anyway:
// when it expires the worker waits in the poller until the socket is
// readable (an idle server thus sleeps in the poller, not in a loop of
// time-outs), which also sees a deadline, or a socket closed by someone
// else, within recvWaitTimeout.

// recvWaitTimeout is the SO_RCVTIMEO of a socket read with blocking recvmmsg:
// the longest a worker sleeps in the kernel before it goes back to the
// poller.
var recvWaitTimeout = 20 * time.Millisecond // a variable for the tests

// procsRefresh is how many reads a worker makes between two reads of
// GOMAXPROCS (which takes the scheduler's lock), so that a change made at
// run time (runtime.GOMAXPROCS, a new CPU quota) is seen within that many.
const procsRefresh = 1024

// errStopped is what a read returns once stopReads was called.
var errStopped = errors.New("udpserver: socket reads stopped")

// waitState is what one worker's batchUDPConn keeps for blocking reads.
type waitState struct {
	procs int // GOMAXPROCS when last read
	age   int // reads until GOMAXPROCS is read again
}

// initWait switches the socket to blocking mode with SO_RCVTIMEO, once per
// socket. On failure its workers keep reading through the poller.
func (b *batchUDPConn) initWait() {
	u := b.u
	u.waitOnce.Do(func() {
		tv := unix.NsecToTimeval(recvWaitTimeout.Nanoseconds())
		var err error
		cerr := b.rc.Control(func(fd uintptr) {
			if err = unix.SetsockoptTimeval(int(fd), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				return
			}
			err = unix.SetNonblock(int(fd), false)
		})
		u.waitOK.Store(cerr == nil && err == nil)
	})
}

// waits reports whether the next read should wait in recvmmsg.
func (b *batchUDPConn) waits() bool {
	if !b.u.waitOK.Load() {
		return false
	}
	if b.wait.age <= 0 {
		b.wait.procs, b.wait.age = runtime.GOMAXPROCS(0), procsRefresh
	}
	b.wait.age--
	return b.wait.procs > 1
}

// recvmmsgWait is recvmmsg that sleeps in the kernel until a datagram
// arrives (MSG_WAITFORONE: then it takes what else is queued, without
// waiting). Syscall6, not RawSyscall6: the call blocks. It returns false,
// to wait in the poller, when SO_RCVTIMEO expired.
func (b *batchUDPConn) recvmmsgWait(fd uintptr) bool {
	if !b.sendFirst(fd) {
		return true
	}
	for {
		if b.u.stopped.Load() {
			b.n, b.errno = 0, 0
			return true
		}
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rhs[0])), uintptr(len(b.rhs)), unix.MSG_WAITFORONE, 0, 0)
		if e == unix.EINTR {
			continue
		}
		b.n, b.errno = int(r), e
		return e != unix.EAGAIN
	}
}

// stopReads makes every later read of c's batch workers fail with
// errStopped and wakes those asleep in recvmmsg (shutdown SHUT_RD: the
// socket reads nothing more, but still sends). For a socket whose reads
// are over: Shutdown and Close call it.
func stopReads(c conn) {
	u, ok := c.(*udpConn)
	if !ok || u.stopped.Swap(true) || !u.waitOK.Load() {
		return
	}
	rc, err := u.c.SyscallConn()
	if err != nil {
		return
	}
	// On an unconnected UDP socket shutdown reports ENOTCONN, but it marks
	// the socket shut for reading and wakes its sleepers all the same.
	rc.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_RD) })
}
