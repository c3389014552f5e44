package multicast

import (
	"context"
	"net/netip"
	"time"

	"github.com/udpkit/udpkit/netif"
)

// Receive reads datagrams until ctx ends or, with count > 0, count of them
// have arrived, and calls fn with each one's packet and payload (valid
// until fn returns). It returns how many arrived and why it stopped: nil
// when count was reached, ctx.Err() when the context ended (Deadline
// exceeded for a deadline, Canceled for an interruption), or the error of a
// read.
func (c *Conn) Receive(ctx context.Context, count int, fn func(p Packet, payload []byte)) (int, error) {
	b := make([]byte, 65536)
	n := 0
	for count <= 0 || n < count {
		p, err := c.Read(ctx, b)
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			return n, err
		}
		n++
		fn(p, b[:p.N])
	}
	return n, nil
}

// Sent is one datagram sent by Repeat.
type Sent struct {
	// Seq is the round, from 1.
	Seq int
	// Interface is the interface it left by.
	Interface netif.Interface
	// Source is the address the system sends from on that interface for
	// the group (netif.Interface.SourceFor) with the socket's port.
	Source netip.AddrPort
	// Size is the payload's length in bytes.
	Size int
	// Err is the error of the send, nil when it left.
	Err error
}

// RepeatStats counts what Repeat sent.
type RepeatStats struct {
	// Sent and Failed count datagrams that left and that could not be
	// sent; Total is what count asked for (rounds times interfaces).
	Sent, Failed, Total int
	// Interrupted is true when ctx ended before the last round.
	Interrupted bool
}

// Repeat sends payload(seq) to the group out of each of the connection's
// interfaces, in count rounds (seq 1..count) interval apart, and calls fn
// after each datagram. The end of ctx stops it between rounds.
func (c *Conn) Repeat(ctx context.Context, count int, interval time.Duration, payload func(seq int) []byte, fn func(Sent)) RepeatStats {
	ifs := c.Interfaces()
	st := RepeatStats{Total: count * len(ifs)}
	srcs := make([]netip.AddrPort, len(ifs))
	for k, ifi := range ifs {
		srcs[k] = netip.AddrPortFrom(ifi.SourceFor(c.group.Addr()), c.LocalAddr().Port())
	}
	for seq := 1; seq <= count; seq++ {
		msg := payload(seq)
		for k, ifi := range ifs {
			err := c.WriteGroupOn(msg, ifi.Index)
			if err != nil {
				st.Failed++
			} else {
				st.Sent++
			}
			fn(Sent{Seq: seq, Interface: ifi, Source: srcs[k], Size: len(msg), Err: err})
		}
		if seq < count {
			t := time.NewTimer(interval)
			select {
			case <-ctx.Done():
				t.Stop()
				st.Interrupted = true
				return st
			case <-t.C:
			}
		}
	}
	return st
}
