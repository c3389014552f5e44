package netlab

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// setns moves the calling thread into the network namespace fd refers to.
func setns(fd uintptr) error {
	return unix.Setns(int(fd), unix.CLONE_NEWNET)
}

// doIn runs fn on a locked OS thread that has joined the network namespace
// called ns (/run/netns/ns), then moves the thread back. If it cannot move
// back, the thread stays locked and the runtime discards it when the
// goroutine ends, so no other goroutine ever runs in the wrong namespace.
// The Go runtime starts new threads from a clean template thread while a
// goroutine is locked, so the namespace does not leak into them.
func doIn(ns string, fn func() error) (err error) {
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return fmt.Errorf("netlab: opening namespace %s: %w", ns, err)
	}
	defer target.Close()

	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("netlab: opening the current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := setns(target.Fd()); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("netlab: entering namespace %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := setns(orig.Fd()); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			done <- fmt.Errorf("netlab: leaving namespace %s: %w", ns, err)
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}
