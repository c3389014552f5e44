//go:build !linux

package udpserver

import (
	"fmt"
	"runtime"
	"syscall"
)

// memInfo is Linux's SO_MEMINFO; the quarantine socket needs Linux's
// SO_ATTACH_REUSEPORT_CBPF anyway.
type memInfo struct{ rmem, rcvbuf, drops uint32 }

func newMemInfo(syscall.RawConn) (*memInfo, error) {
	return nil, fmt.Errorf("SO_MEMINFO on %s: unsupported", runtime.GOOS)
}

func (m *memInfo) read() bool { return false }
