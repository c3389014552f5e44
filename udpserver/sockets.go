package udpserver

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"github.com/udpkit/udpkit/internal/sockopt"
)

// Several sockets on one address (Server.Sockets): each has its own
// receive queue in the kernel and its own workers. With the
// source-spreading program (sockopt.Spread) the kernel picks a
// socket by the source address alone, so one host's flood, from however
// many ports, fills only its own socket's queue and the others keep
// serving everyone else; the kernel's default (a hash of the 4-tuple)
// would spread a many-port flood over every queue. Unless
// DisableQuarantine, one more socket, the quarantine socket (jail.go),
// serves the sources found flooding.

// reusePortSiblings sets SO_REUSEPORT on pc, opens Sockets-1 more sockets
// on its address and, unless SpreadByTuple, attaches the source-spreading
// program to the group and opens the quarantine socket (unless
// DisableQuarantine). pc is index 0 of the group (bound first), the
// siblings follow in order, the quarantine socket last; the jail is nil
// without one.
func (s *Server) reusePortSiblings(pc net.PacketConn) ([]net.PacketConn, *jailGroup, error) {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return nil, nil, fmt.Errorf("udpserver: Sockets %d needs a *net.UDPConn, not %T", s.cfg.sockets, pc)
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, nil, fmt.Errorf("udpserver: SO_REUSEPORT: %w", err)
	}
	if err := sockopt.ReusePort(rc); err != nil {
		return nil, nil, fmt.Errorf("udpserver: SO_REUSEPORT: %w", err)
	}
	la := uc.LocalAddr().(*net.UDPAddr) // a *net.UDPConn: always a *net.UDPAddr
	network, only6 := "udp4", false
	if isIPv6Socket(uc, la.AddrPort()) {
		network = "udp6"
		if only6, err = sockopt.V6Only(rc); err != nil {
			return nil, nil, fmt.Errorf("udpserver: IPV6_V6ONLY: %w", err)
		}
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		if network == "udp6" {
			if err := sockopt.SetV6Only(c, only6); err != nil {
				return err
			}
		}
		return sockopt.ReusePort(c)
	}}
	var more []net.PacketConn
	fail := func(err error) ([]net.PacketConn, *jailGroup, error) {
		for _, c := range more {
			c.Close()
		}
		return nil, nil, err
	}
	jail := !s.SpreadByTuple && !s.DisableQuarantine
	opens := s.cfg.sockets - 1
	if jail {
		opens++ // the quarantine socket, index Sockets
	}
	for range opens {
		c, err := lc.ListenPacket(context.Background(), network, la.String())
		if err != nil {
			return fail(fmt.Errorf("udpserver: open another socket on %v: %w", la, err))
		}
		more = append(more, c)
	}
	if s.SpreadByTuple {
		return more, nil, nil
	}
	mul := s.SpreadMultiplier | 1
	if s.SpreadMultiplier == 0 {
		mul = sockopt.RandomMultiplier()
	}
	prog, err := sockopt.Spread{Sockets: s.cfg.sockets, Mul: mul}.Program()
	if err != nil {
		return fail(fmt.Errorf("udpserver: %w", err))
	}
	if err := sockopt.AttachReusePortCBPF(rc, prog); err != nil {
		return fail(fmt.Errorf("udpserver: spread sources over %d sockets: %w", s.cfg.sockets, err))
	}
	var g *jailGroup
	if jail {
		g = newJailGroup(s, rc, s.cfg.sockets, mul)
	}
	return more, g, nil
}
