package sockopt

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/net/bpf"

	"github.com/udpkit/udpkit/internal/netaddr"
	"github.com/udpkit/udpkit/wire"
)

// skfNetOff is the classic BPF base offset (SKF_NET_OFF, linux/filter.h)
// that makes a load relative to the network header. A SO_REUSEPORT
// program runs with the packet's data starting after the UDP header, so
// the source address is only reachable through it.
const skfNetOff = -0x100000

// MaxJailed is the most sources one Spread program sends to its
// quarantine socket. A datagram from a source that is not jailed runs one
// comparison per jailed IPv4 source and one or two per jailed IPv6 /64,
// as before host tags; a jailed source costs the program 6 instructions
// (IPv6: 9) with tags, 2 (5) without, so 64 keep it under 620 of the
// kernel's 4096.
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

	// Tags are, for Jailed[i], the host tags (Tags[i], 0 for none) of
	// its proof of return routability: a datagram from Jailed[i] of at
	// least 24 bytes whose byte 4 (the udpkit flags) has bit 0x02
	// (COOKIE) set and whose last 8 bytes (the cookie) begin with one of
	// them, big-endian, is hashed as if its source were not jailed. So a
	// host that echoes the server's cookie skips the quarantine socket
	// that a flood forged with its address fills (PROTOCOL.md 3.1; the
	// server verifies the whole cookie). Shorter than Jailed, or nil: the
	// sources past it have none.
	Tags [][2]uint32
}

// Tag offsets of the program: the UDP payload starts at offset 0 in the
// kernel (SO_REUSEPORT programs see the packet from the UDP payload on,
// and its length as the payload's).
const (
	tagMinLen   = wire.HeaderLen + wire.CookieLen // a udpkit header and a cookie
	tagFlagsOff = 4                               // the flags byte
	tagFlag     = byte(wire.FlagCookie)
	tagCookie   = wire.CookieLen // the cookie is the last 8 bytes
)

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
	prog, err := sp.program(skfNetOff, 0)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("sockopt: assemble the source-spreading program: %w", err)
	}
	return raw, nil
}

// tags returns Jailed[i]'s tags, both the same when one is 0, and false
// when it has none.
func (sp Spread) tags(i int) ([2]uint32, bool) {
	if i >= len(sp.Tags) {
		return [2]uint32{}, false
	}
	t := sp.Tags[i]
	switch {
	case t[0] == 0 && t[1] == 0:
		return t, false
	case t[0] == 0:
		t[0] = t[1]
	case t[1] == 0:
		t[1] = t[0]
	}
	return t, true
}

// program is Spread's program with the network header at offset base and
// the UDP payload at offset pay: skfNetOff and 0 in the kernel; in a test
// that runs it with golang.org/x/net/bpf's VM (which has no SKF_NET_OFF),
// 0 and the payload's offset after an IP header (the VM's length is then
// the whole input's, and the cookie still its last 8 bytes).
//
// Layout, with A holding the source (IPv4) or loading it (IPv6) in the
// jailed sources' comparisons:
//
//	version: IPv6 jumps to v6
//	v4:      A = source; per jailed source: not it: next; it without tags:
//	         return Sockets; with tags: M[1], M[2] = its tags, jump to proof
//	         then jump to tail (A = source)
//	v6:      the same per /64 (two words), then jump to hash6
//	proof:   (when a source has tags) length, COOKIE flag, A = the
//	         cookie's first word: one of M[1], M[2] falls to ok, else
//	         return Sockets
//	ok:      IPv4: A = source, jump to tail; IPv6: fall to hash6
//	hash6:   A = hash of the /64's two words
//	tail:    return ((A * Mul) >> 16) mod Sockets
func (sp Spread) program(base, pay int) ([]bpf.Instruction, error) {
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
	if len(sp.Tags) > len(sp.Jailed) {
		return nil, fmt.Errorf("sockopt: tags for %d jailed sources, %d jailed", len(sp.Tags), len(sp.Jailed))
	}
	off := func(o int) uint32 { return uint32(int32(base + o)) }
	jail := bpf.RetConstant{Val: uint32(n)}
	// Jumps to the proof block are patched once its place is known.
	var toProof []int
	block := func(p []bpf.Instruction, t [2]uint32, has bool) []bpf.Instruction {
		if !has {
			return append(p, jail)
		}
		toProof = append(toProof, len(p)+4)
		return append(p,
			bpf.LoadConstant{Dst: bpf.RegA, Val: t[0]},
			bpf.StoreScratch{Src: bpf.RegA, N: 1},
			bpf.LoadConstant{Dst: bpf.RegA, Val: t[1]},
			bpf.StoreScratch{Src: bpf.RegA, N: 2},
			bpf.Jump{}) // to proof
	}
	blockLen := func(has bool) uint8 {
		if has {
			return 5
		}
		return 1
	}
	p := []bpf.Instruction{
		bpf.LoadAbsolute{Off: off(0), Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipFalse: 1},
		bpf.Jump{}, // to v6
		// IPv4: A = source address (offset 12).
		bpf.LoadAbsolute{Off: off(12), Size: 4},
	}
	toV6 := 3
	var v6 []int
	for i, a := range sp.Jailed {
		if !a.IsValid() {
			return nil, fmt.Errorf("sockopt: jailed source %v: not an address", a)
		}
		k := netaddr.HostKey(a)
		if !k.Is4() {
			v6 = append(v6, i)
			continue
		}
		b := k.As4()
		t, has := sp.tags(i)
		p = append(p, bpf.JumpIf{Cond: bpf.JumpEqual, Val: binary.BigEndian.Uint32(b[:]), SkipFalse: blockLen(has)})
		p = block(p, t, has)
	}
	toTail := len(p)
	p = append(p, bpf.Jump{}) // to tail
	p[toV6] = bpf.Jump{Skip: uint32(len(p) - toV6 - 1)}
	// IPv6: a jailed /64 (words at offsets 8 and 12).
	for _, i := range v6 {
		b := netaddr.HostKey(sp.Jailed[i]).As16()
		t, has := sp.tags(i)
		l := blockLen(has)
		p = append(p,
			bpf.LoadAbsolute{Off: off(8), Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: binary.BigEndian.Uint32(b[0:4]), SkipFalse: 2 + l},
			bpf.LoadAbsolute{Off: off(12), Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: binary.BigEndian.Uint32(b[4:8]), SkipFalse: l})
		p = block(p, t, has)
	}
	if len(toProof) > 0 {
		toHash6 := len(p)
		p = append(p, bpf.Jump{}) // to hash6
		proof := len(p)
		for _, j := range toProof {
			p[j] = bpf.Jump{Skip: uint32(proof - j - 1)}
		}
		p = append(p,
			// proof: a datagram of tagMinLen bytes or more (also keeps the
			// loads below in it: a load past the end aborts the program,
			// which then returns socket 0)...
			bpf.LoadExtension{Num: bpf.ExtLen},
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: uint32(pay + tagMinLen), SkipFalse: 9},
			bpf.ALUOpConstant{Op: bpf.ALUOpSub, Val: tagCookie},
			bpf.TAX{},
			// ...with flag COOKIE...
			bpf.LoadAbsolute{Off: uint32(pay + tagFlagsOff), Size: 1},
			bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: uint32(tagFlag), SkipFalse: 5},
			// ...whose cookie begins with one of the source's tags.
			bpf.LoadIndirect{Off: 0, Size: 4},
			bpf.LoadScratch{Dst: bpf.RegX, N: 1},
			bpf.JumpIfX{Cond: bpf.JumpEqual, SkipTrue: 3},
			bpf.LoadScratch{Dst: bpf.RegX, N: 2},
			bpf.JumpIfX{Cond: bpf.JumpEqual, SkipTrue: 1},
			jail,
			// ok: hashed as if not jailed.
			bpf.LoadAbsolute{Off: off(0), Size: 1},
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipTrue: 2},
			bpf.LoadAbsolute{Off: off(12), Size: 4},
			bpf.Jump{Skip: 5}, // to tail
		)
		p[toHash6] = bpf.Jump{Skip: uint32(len(p) - toHash6 - 1)}
	}
	p = append(p,
		// hash6: A = hash of the two words of the /64 prefix.
		bpf.LoadAbsolute{Off: off(8), Size: 4},
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: sp.Mul},
		bpf.TAX{},
		bpf.LoadAbsolute{Off: off(12), Size: 4},
		bpf.ALUOpX{Op: bpf.ALUOpXor},
	)
	p[toTail] = bpf.Jump{Skip: uint32(len(p) - toTail - 1)}
	return append(p,
		// tail: index = ((A * mul) >> 16) mod n
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: sp.Mul},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
		bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: uint32(n)},
		bpf.RetA{},
	), nil
}

// Index is the socket the program picks for a datagram from src that
// carries no tag, computed in Go (a test keeps the two equal): for tools
// that must know where a source lands, such as bench/floodbench.
func (sp Spread) Index(src netip.Addr) int {
	return sp.Pick(src, nil)
}

// Pick is the socket the program picks for datagram payload (the UDP
// payload) from src, computed in Go: Index with the tag check of Tags.
func (sp Spread) Pick(src netip.Addr, payload []byte) int {
	k := netaddr.HostKey(src)
	for i, j := range sp.Jailed {
		if netaddr.HostKey(j) != k {
			continue
		}
		if t, has := sp.tags(i); has && len(payload) >= tagMinLen && payload[tagFlagsOff]&tagFlag != 0 {
			w := binary.BigEndian.Uint32(payload[len(payload)-tagCookie:])
			if w == t[0] || w == t[1] {
				break
			}
		}
		return sp.Sockets
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
