package udpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/udpkit/udpkit/wire"
)

// withProcs runs the test with GOMAXPROCS n (and skips it when the machine
// cannot give a blocking worker another P: it then uses the poller).
func withProcs(t *testing.T, n int) {
	t.Helper()
	old := runtime.GOMAXPROCS(n)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

// withLongWait makes SO_RCVTIMEO an hour, so that a worker asleep in
// recvmmsg wakes only if stopReads wakes it: a test that passes under it
// did not lean on the time-out.
func withLongWait(t *testing.T) {
	t.Helper()
	old := recvWaitTimeout
	recvWaitTimeout = time.Hour
	t.Cleanup(func() { recvWaitTimeout = old })
}

// threadsInRecvmmsg counts this process's threads asleep in recvmmsg on
// pc's socket (/proc/self/task/*/syscall: the number of the system call a
// blocked thread is in, then its arguments, the first being the fd).
func threadsInRecvmmsg(t *testing.T, pc *net.UDPConn) int {
	t.Helper()
	var fd uintptr
	if rc, err := pc.SyscallConn(); err == nil {
		rc.Control(func(f uintptr) { fd = f })
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Skipf("no /proc/self/task: %v", err)
	}
	n := 0
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/syscall")
		if err != nil {
			continue // gone, or not allowed
		}
		f := strings.Fields(string(b))
		if len(f) > 1 && f[0] == strconv.Itoa(unix.SYS_RECVMMSG) && f[1] == "0x"+strconv.FormatUint(uint64(fd), 16) {
			n++
		}
	}
	return n
}

// waitInRecvmmsg waits until a thread sleeps in recvmmsg on pc.
func waitInRecvmmsg(t *testing.T, pc *net.UDPConn) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for threadsInRecvmmsg(t, pc) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no thread asleep in recvmmsg on the server's socket: the workers do not block in the kernel")
		}
		time.Sleep(time.Millisecond)
	}
}

// startServe runs s on a fresh IPv4 loopback socket and returns the
// socket and Serve's result.
func startServe(t *testing.T, s *Server) (*net.UDPConn, <-chan error) {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Skipf("cannot listen on loopback: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(pc) }()
	t.Cleanup(func() { s.Close() }) // when the test failed before it did
	return pc, done
}

func waitServe(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v after %s, want ErrServerClosed", err, what)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("Serve did not return after %s", what)
	}
}

// TestRecvWaitStop: with more than one P a worker sleeps in recvmmsg
// (a thread in that system call; with several workers on a socket one at a
// time, the others wait for the socket's read lock), and Shutdown and
// Close wake them all without the SO_RCVTIMEO fallback. The shut socket's
// empty reads are not counted as empty datagrams.
func TestRecvWaitStop(t *testing.T) {
	withProcs(t, max(2, runtime.GOMAXPROCS(0)))
	withLongWait(t)
	for _, workers := range []int{1, 3} {
		for _, how := range []string{"Shutdown", "Close"} {
			t.Run(fmt.Sprintf("workers=%d/%s", workers, how), func(t *testing.T) {
				s := &Server{Workers: workers, BatchSize: 16}
				pc, done := startServe(t, s)
				c := dial(t, "udp4", pc.LocalAddr().(*net.UDPAddr).AddrPort())
				ping(t, c, 1)
				waitInRecvmmsg(t, pc)
				if how == "Shutdown" {
					ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
					defer cancel()
					if err := s.Shutdown(ctx); err != nil {
						t.Errorf("Shutdown: %v", err)
					}
				} else if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				waitServe(t, done, how)
				if st := s.Stats(); st.Received != 1 || st.Empty != 0 || st.ReadErrors != 0 {
					t.Errorf("stats after %s: received %d, empty %d, read errors %d; want 1, 0, 0", how, st.Received, st.Empty, st.ReadErrors)
				}
			})
		}
	}
}

// TestRecvWaitGC: a worker asleep in recvmmsg does not hold up a garbage
// collection (Syscall6, not RawSyscall6: the runtime knows the thread is
// in the kernel), and serves on afterwards.
func TestRecvWaitGC(t *testing.T) {
	withProcs(t, max(2, runtime.GOMAXPROCS(0)))
	withLongWait(t)
	s := &Server{}
	pc, _ := startServe(t, s)
	c := dial(t, "udp4", pc.LocalAddr().(*net.UDPAddr).AddrPort())
	ping(t, c, 1)
	waitInRecvmmsg(t, pc)
	gc := make(chan struct{})
	go func() { runtime.GC(); close(gc) }()
	select {
	case <-gc:
	case <-time.After(waitTimeout):
		t.Fatal("runtime.GC did not finish while a worker slept in recvmmsg")
	}
	ping(t, c, 2)
}

// TestRecvWaitClosedSocket: a socket closed under the server (not through
// Shutdown or Close: Serve's own "one socket failed, close them all", or a
// caller that breaks the rule that the server owns it) still ends Serve,
// within SO_RCVTIMEO.
func TestRecvWaitClosedSocket(t *testing.T) {
	withProcs(t, max(2, runtime.GOMAXPROCS(0)))
	s := &Server{}
	pc, done := startServe(t, s)
	c := dial(t, "udp4", pc.LocalAddr().(*net.UDPAddr).AddrPort())
	ping(t, c, 1)
	waitInRecvmmsg(t, pc)
	closed := make(chan error, 1)
	go func() { closed <- pc.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("closing the socket hangs while a worker sleeps in recvmmsg")
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve returned %v, want net.ErrClosed", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return after its socket was closed")
	}
	s.Close()
}

// TestRecvWaitOneProc: with one P the workers wait in the poller (the
// blocking read costs more there, BENCHMARKS.md): nothing sleeps in
// recvmmsg, the server answers, and a read deadline (Shutdown) stops it.
func TestRecvWaitOneProc(t *testing.T) {
	withProcs(t, 1)
	withLongWait(t)
	s := &Server{}
	pc, done := startServe(t, s)
	c := dial(t, "udp4", pc.LocalAddr().(*net.UDPAddr).AddrPort())
	for id := range uint64(50) {
		ping(t, c, id+1)
	}
	time.Sleep(10 * time.Millisecond) // time to fall asleep, wherever it sleeps
	if n := threadsInRecvmmsg(t, pc); n != 0 {
		t.Errorf("%d threads asleep in recvmmsg with GOMAXPROCS 1, want 0", n)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	waitServe(t, done, "Shutdown")
}

// TestRecvWaitBlockingMode: the socket of a batch worker is in blocking
// mode (the poller path passes MSG_DONTWAIT), and a burst larger than a
// batch is answered whole through the blocking path.
func TestRecvWaitBlockingMode(t *testing.T) {
	withProcs(t, max(2, runtime.GOMAXPROCS(0)))
	s := &Server{BatchSize: 8}
	pc, done := startServe(t, s)
	c := dial(t, "udp4", pc.LocalAddr().(*net.UDPAddr).AddrPort())
	ping(t, c, 1)
	rc, err := pc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	rc.Control(func(fd uintptr) { flags, err = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.O_NONBLOCK != 0 {
		t.Errorf("socket still non-blocking (flags %#x)", flags)
	}
	const n = 100
	for id := range uint64(n) {
		if _, err := c.Write(wire.AppendData(nil, id+10, []byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		if h, _ := parseReply(t, recv(t, c)); h.Type != wire.TypeAck {
			t.Fatalf("got %v, want ACK", h.Type)
		}
	}
	s.Close()
	waitServe(t, done, "Close")
}
