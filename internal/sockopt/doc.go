// Package sockopt sets the socket options that several udpkit packages
// need, with the differences between operating systems kept in one place:
// one file per platform with the same signatures, as golang.org/x/net does.
//
// Use it from net.ListenConfig.Control, before bind:
//
//	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
//		return sockopt.ShareAddr(c)
//	}}
//	pc, err := lc.ListenPacket(ctx, "udp4", "0.0.0.0:9798")
package sockopt

import "errors"

// ErrUnsupported is returned (wrapped) for an option this platform lacks;
// a requested option is never silently ignored.
var ErrUnsupported = errors.New("sockopt: not supported on this platform")
