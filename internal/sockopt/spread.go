package sockopt

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/net/bpf"

	"github.com/udpkit/udpkit/internal/netaddr"
)

// skfNetOff is the classic BPF base offset (SKF_NET_OFF, linux/filter.h)
// that makes a load relative to the network header. A SO_REUSEPORT
// program runs with the packet's data starting after the UDP header, so
// the source address is only reachable through it.
const skfNetOff = -0x100000

// MaxJailed is the most sources one Spread program sends to its
// quarantine socket: 5 instructions each at most, so the program stays
// short (and the kernel runs it for every datagram).
const MaxJailed = 64

// Spread describes the classic BPF program that picks the socket of a
// SO_REUSEPORT group for every datagram by its source address alone, not
// its ports: an IPv4 source's 32 bits, an IPv6 source's /64 prefix (a host
// owns a whole /64), so one host's datagrams, from whatever port, always
// land on one socket and its flood fills only that socket's receive
// queue. The program reads the IP version nibble, so one program serves
// an IPv4, an IPv6 or a dual-stack socket. Attach it with
// AttachReusePortCBPF.
type Spread struct {
	// Sockets is how many sockets the sources are hashed over: indexes 0
	// to Sockets-1 of the group, in the order they were bound.
	Sockets int

	// Mul is the multiplier of the hash; it must be odd. Pick it with
	// RandomMultiplier, so that which socket a host shares is not
	// predictable from its address (a flooder could otherwise choose an
	// address that lands with its victim).
	Mul uint32

	// Jailed are sources (IPv4 addresses, IPv4-mapped ones included, or
	// IPv6 addresses standing for their /64) sent to the quarantine
	// socket, index Sockets of the group, instead of being hashed: at
	// most MaxJailed.
	Jailed []netip.Addr
}

// RandomMultiplier returns a random odd multiplier for Spread.Mul, with
// its top bit set so that the product keeps the address's bits high.
func RandomMultiplier() uint32 {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return binary.BigEndian.Uint32(b[:]) | 1<<31 | 1
}

// Program assembles the program.
func (sp Spread) Program() ([]bpf.RawInstruction, error) {
	prog, err := sp.program(skfNetOff)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("sockopt: assemble the source-spreading program: %w", err)
	}
	return raw, nil
}

// program is Spread's program with the network header at offset base:
// skfNetOff in the kernel, 0 in a test that runs it on an IP header with
// golang.org/x/net/bpf's VM (which has no SKF_NET_OFF).
func (sp Spread) program(base int) ([]bpf.Instruction, error) {
	n := sp.Sockets
	if n < 1 || n >= 1<<16 {
		return nil, fmt.Errorf("sockopt: %d sockets to spread over, want 1 to 65535", n)
	}
	if sp.Mul&1 == 0 {
		return nil, fmt.Errorf("sockopt: even hash multiplier %#x", sp.Mul)
	}
	if len(sp.Jailed) > MaxJailed {
		return nil, fmt.Errorf("sockopt: %d jailed sources, want at most %d", len(sp.Jailed), MaxJailed)
	}
	var v4 []uint32
	var v6 [][2]uint32
	for _, a := range sp.Jailed {
		if !a.IsValid() {
			return nil, fmt.Errorf("sockopt: jailed source %v: not an address", a)
		}
		k := netaddr.HostKey(a)
		if k.Is4() {
			b := k.As4()
			v4 = append(v4, binary.BigEndian.Uint32(b[:]))
		} else {
			b := k.As16()
			v6 = append(v6, [2]uint32{binary.BigEndian.Uint32(b[0:4]), binary.BigEndian.Uint32(b[4:8])})
		}
	}
	off := func(o int) uint32 { return uint32(int32(base + o)) }
	jail := bpf.RetConstant{Val: uint32(n)}
	// A = version nibble of the IP header.
	p := []bpf.Instruction{
		bpf.LoadAbsolute{Off: off(0), Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipTrue: uint8(2 + 2*len(v4))},
		// IPv4: A = source address (offset 12); a jailed one returns n.
		bpf.LoadAbsolute{Off: off(12), Size: 4},
	}
	for _, k := range v4 {
		p = append(p, bpf.JumpIf{Cond: bpf.JumpEqual, Val: k, SkipFalse: 1}, jail)
	}
	// Skips the IPv6 part: its jailed /64s, then 5 instructions of hash.
	p = append(p, bpf.Jump{Skip: uint32(5*len(v6) + 5)})
	// IPv6: a jailed /64 (words at offsets 8 and 12) returns n.
	for _, k := range v6 {
		p = append(p,
			bpf.LoadAbsolute{Off: off(8), Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: k[0], SkipFalse: 3},
			bpf.LoadAbsolute{Off: off(12), Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: k[1], SkipFalse: 1},
			jail)
	}
	return append(p,
		// A = hash of the two words of the /64 prefix.
		bpf.LoadAbsolute{Off: off(8), Size: 4},
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: sp.Mul},
		bpf.TAX{},
		bpf.LoadAbsolute{Off: off(12), Size: 4},
		bpf.ALUOpX{Op: bpf.ALUOpXor},
		// index = ((A * mul) >> 16) mod n
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: sp.Mul},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
		bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: uint32(n)},
		bpf.RetA{},
	), nil
}

// Index is the socket the program picks for a datagram from src,
// computed in Go (a test keeps the two equal): for tools that must know
// where a source lands, such as bench/floodbench.
func (sp Spread) Index(src netip.Addr) int {
	k := netaddr.HostKey(src)
	for _, j := range sp.Jailed {
		if netaddr.HostKey(j) == k {
			return sp.Sockets
		}
	}
	var a uint32
	if k.Is4() {
		v := k.As4()
		a = binary.BigEndian.Uint32(v[:])
	} else {
		v := k.As16()
		a = binary.BigEndian.Uint32(v[0:4])*sp.Mul ^ binary.BigEndian.Uint32(v[4:8])
	}
	return int((a * sp.Mul >> 16) % uint32(sp.Sockets))
}
