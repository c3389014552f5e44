package sockopt

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/net/bpf"
)

// skfNetOff is the classic BPF base offset (SKF_NET_OFF, linux/filter.h)
// that makes a load relative to the network header. A SO_REUSEPORT
// program runs with the packet's data starting after the UDP header, so
// the source address is only reachable through it.
const skfNetOff = -0x100000

// spreadMul is the multiplier of the source hash (Knuth's 2^32/phi): it
// carries every bit of the address into the high bits kept by the shift.
const spreadMul = 0x9e3779b1

// SpreadSources returns the classic BPF program that picks the socket of
// a SO_REUSEPORT group of n sockets for a datagram by a hash of its
// source address alone, not of its ports: an IPv4 source's 32 bits, an
// IPv6 source's /64 prefix (a host owns a whole /64), so one host's
// datagrams, from whatever port, always land on one socket and its flood
// fills only that socket's receive queue. The program returns an index in
// [0, n); attach it with AttachReusePortCBPF. It reads the IP version
// nibble, so one program serves an IPv4, an IPv6 or a dual-stack socket.
func SpreadSources(n int) ([]bpf.RawInstruction, error) {
	prog, err := spreadProgram(n, skfNetOff)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("sockopt: assemble the source-spreading program: %w", err)
	}
	return raw, nil
}

// spreadProgram is SpreadSources' program with the network header at
// offset base: skfNetOff in the kernel, 0 in a test that runs it on an IP
// header with golang.org/x/net/bpf's VM (which has no SKF_NET_OFF).
func spreadProgram(n, base int) ([]bpf.Instruction, error) {
	if n < 1 || n > 1<<16 {
		return nil, fmt.Errorf("sockopt: %d sockets to spread over, want 1 to 65536", n)
	}
	off := func(o int) uint32 { return uint32(int32(base + o)) }
	return []bpf.Instruction{
		// A = version nibble of the IP header.
		bpf.LoadAbsolute{Off: off(0), Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipTrue: 2},
		// IPv4: A = source address (offset 12).
		bpf.LoadAbsolute{Off: off(12), Size: 4},
		bpf.Jump{Skip: 5},
		// IPv6: A = hash of the two words of the /64 prefix (offset 8).
		bpf.LoadAbsolute{Off: off(8), Size: 4},
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: spreadMul},
		bpf.TAX{},
		bpf.LoadAbsolute{Off: off(12), Size: 4},
		bpf.ALUOpX{Op: bpf.ALUOpXor},
		// index = ((A * mul) >> 16) mod n
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: spreadMul},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
		bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: uint32(n)},
		bpf.RetA{},
	}, nil
}

// SourceIndex is the socket SpreadSources(n) picks for a datagram from
// src, computed in Go (a test keeps the two equal): for tools that must
// know where a source lands, such as bench/floodbench.
func SourceIndex(src netip.Addr, n int) int {
	src = src.Unmap()
	var a uint32
	if src.Is4() {
		v := src.As4()
		a = binary.BigEndian.Uint32(v[:])
	} else {
		v := src.As16()
		a = binary.BigEndian.Uint32(v[0:4])*spreadMul ^ binary.BigEndian.Uint32(v[4:8])
	}
	return int((a * spreadMul >> 16) % uint32(n))
}
