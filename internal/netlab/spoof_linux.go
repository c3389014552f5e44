package netlab

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
)

// SpoofUDP4 sends one UDP datagram from host h with any IPv4 source
// address and port, through a raw socket opened in h's namespace (the
// attacker of tests that forge sources on the LAN). The kernel fills in
// the IP checksum and ID; the UDP checksum is 0 (none, allowed for IPv4).
// dst may be a broadcast or group address (out of the route's interface).
func (h *Host) SpoofUDP4(src, dst netip.AddrPort, payload []byte) error {
	if !src.Addr().Is4() || !dst.Addr().Is4() {
		return fmt.Errorf("netlab: SpoofUDP4 needs IPv4 addresses, got %v -> %v", src, dst)
	}
	if n := 20 + 8 + len(payload); n > 65535 {
		return fmt.Errorf("netlab: datagram of %d bytes too large", n)
	}
	pkt := AppendUDP4(nil, src, dst, payload)
	d4 := dst.Addr().As4()
	return h.Do(func() error {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
		if err != nil {
			return fmt.Errorf("netlab: raw socket: %w", err)
		}
		defer syscall.Close(fd)
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1); err != nil {
			return fmt.Errorf("netlab: SO_BROADCAST: %w", err)
		}
		if err := syscall.Sendto(fd, pkt, 0, &syscall.SockaddrInet4{Addr: d4}); err != nil {
			return fmt.Errorf("netlab: raw send to %v: %w", dst, err)
		}
		return nil
	})
}

// AppendUDP4 appends to pkt an IPv4 header and a UDP header from src to
// dst and the payload, as a raw IPPROTO_RAW socket sends it: the kernel
// fills in the IP checksum and ID; the UDP checksum is 0 (none, allowed
// for IPv4). The caller keeps the total under 64 KiB.
func AppendUDP4(pkt []byte, src, dst netip.AddrPort, payload []byte) []byte {
	n := 20 + 8 + len(payload)
	pkt = append(pkt, 0x45, 0) // version 4, IHL 5; TOS
	pkt = binary.BigEndian.AppendUint16(pkt, uint16(n))
	pkt = append(pkt, 0, 0, 0x40, 0) // ID (kernel), DF
	pkt = append(pkt, 64, syscall.IPPROTO_UDP, 0, 0)
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	pkt = append(pkt, s4[:]...)
	pkt = append(pkt, d4[:]...)
	pkt = binary.BigEndian.AppendUint16(pkt, src.Port())
	pkt = binary.BigEndian.AppendUint16(pkt, dst.Port())
	pkt = binary.BigEndian.AppendUint16(pkt, uint16(8+len(payload)))
	pkt = append(pkt, 0, 0)
	return append(pkt, payload...)
}
