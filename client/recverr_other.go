//go:build !linux

package client

import "syscall"

// recvErr: other systems report host and network unreachable on a
// connected UDP socket without being asked, or not at all.
func recvErr(string, string, syscall.RawConn) error { return nil }

func drainErrors(packetConn) {}
