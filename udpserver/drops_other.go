//go:build !linux

package udpserver

import "syscall"

func socketDrops([]syscall.RawConn) (uint64, error) { return 0, ErrDropsUnsupported }
