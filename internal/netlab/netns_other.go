//go:build !linux

package netlab

import (
	"errors"
	"net/netip"
	"runtime"
)

func doIn(ns string, fn func() error) error {
	return errors.New("netlab: network namespaces need Linux, this is " + runtime.GOOS)
}

// SpoofUDP4 needs Linux raw sockets.
func (h *Host) SpoofUDP4(src, dst netip.AddrPort, payload []byte) error {
	return errors.New("netlab: SpoofUDP4 needs Linux")
}
