// Package clienttest provides a fake udpkit server for testing code that
// uses package client, in the manner of net/http/httptest: a goroutine with
// a real UDP socket on loopback that answers DATA with ACK (or NACK) and
// PING with PONG, and loses, repeats or withholds replies as told.
//
//	r, err := clienttest.Start("127.0.0.1:0", clienttest.Behavior{DropFirst: 1})
//	if err != nil { ... }
//	defer r.Close()
//	c, err := client.Dial(ctx, r.Addr(), client.Config{})
//
// Only use loopback addresses: the responder answers whoever writes to it.
package clienttest

import (
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/udpkit/udpkit/wire"
)

// Behavior programs a Responder. The zero value answers every DATA with an
// ACK and every PING with a PONG.
type Behavior struct {
	// DropFirst drops the first DropFirst copies of every DATA message
	// (by ID), as if they were lost on the way.
	DropFirst int
	// DropIn is the probability of losing each incoming datagram.
	DropIn float64
	// DropOut is the probability of losing each reply.
	DropOut float64
	// Silent makes the responder read everything and answer nothing.
	Silent bool
	// Nack, when not wire.CodeNone, answers DATA with a NACK carrying this
	// code and NackReason instead of an ACK.
	Nack       wire.Code
	NackReason string
	// Extra sends each reply this many more times (duplicates).
	Extra int
	// Garbage sends a datagram that fails wire.Parse before each reply.
	Garbage bool
	// Seed seeds the random drops; 0 picks a random seed.
	Seed uint64
}

// Responder is a fake udpkit server on a real loopback UDP socket. It
// handles each DATA message ID once (like the server's de-duplication) and
// answers retransmissions with the same reply.
type Responder struct {
	conn *net.UDPConn
	b    Behavior
	rng  *rand.Rand
	done chan struct{}

	mu        sync.Mutex
	datagrams int
	copies    map[uint64]int    // DATA datagrams seen per ID, dropped ones included
	handled   map[uint64][]byte // payload per handled ID
	order     []uint64
	pings     int
}

// Start listens on address ("127.0.0.1:0" or "[::1]:0") and answers as b
// says until Close.
func Start(address string, b Behavior) (*Responder, error) {
	ua, err := net.ResolveUDPAddr("udp", address)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	seed := b.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	r := &Responder{
		conn:    conn,
		b:       b,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		done:    make(chan struct{}),
		copies:  make(map[uint64]int),
		handled: make(map[uint64][]byte),
	}
	go r.serve()
	return r, nil
}

// Addr returns the responder's address as "host:port".
func (r *Responder) Addr() string { return r.conn.LocalAddr().String() }

// Close stops the responder and closes its socket.
func (r *Responder) Close() error {
	err := r.conn.Close()
	<-r.done
	return err
}

// Datagrams returns how many datagrams reached the responder's socket,
// dropped ones included.
func (r *Responder) Datagrams() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.datagrams
}

// Copies returns how many copies of DATA message id arrived, dropped ones
// included.
func (r *Responder) Copies(id uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.copies[id]
}

// Handled returns the payloads of the DATA messages handled (each ID once),
// in the order they were first handled.
func (r *Responder) Handled() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]byte, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, r.handled[id])
	}
	return out
}

// Pings returns how many PINGs arrived, dropped ones included.
func (r *Responder) Pings() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pings
}

func (r *Responder) serve() {
	defer close(r.done)
	buf := make([]byte, wire.MaxDatagram+1)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // an ICMP error for a reply; go on
		}
		h, body, err := wire.Parse(buf[:n])
		if err != nil {
			continue
		}
		var out []byte
		r.mu.Lock()
		r.datagrams++
		lost := r.b.DropIn > 0 && r.rng.Float64() < r.b.DropIn
		switch h.Type {
		case wire.TypeData:
			r.copies[h.ID]++
			if r.copies[h.ID] <= r.b.DropFirst || lost {
				break
			}
			if _, ok := r.handled[h.ID]; !ok {
				r.handled[h.ID] = append([]byte(nil), body...)
				r.order = append(r.order, h.ID)
			}
			if r.b.Nack != wire.CodeNone {
				out = wire.AppendNack(nil, h.ID, r.b.Nack, r.b.NackReason, n)
			} else {
				out = wire.AppendAck(nil, h.ID)
			}
		case wire.TypePing:
			r.pings++
			if !lost {
				out = wire.Append(nil, wire.Header{Type: wire.TypePong, ID: h.ID}, body)
			}
		}
		if r.b.Silent {
			out = nil
		}
		sends := 0
		if out != nil {
			for range 1 + r.b.Extra {
				if r.b.DropOut == 0 || r.rng.Float64() >= r.b.DropOut {
					sends++
				}
			}
		}
		r.mu.Unlock()
		for range sends {
			if r.b.Garbage {
				r.conn.WriteToUDPAddrPort([]byte{wire.Magic0, wire.Magic1, 9, 9}, from)
			}
			r.conn.WriteToUDPAddrPort(out, from)
		}
	}
}

// StartT starts a Responder for a test and closes it when the test ends.
// A missing IPv6 loopback ("[::1]:0") skips the test rather than failing it.
func StartT(t testing.TB, address string, b Behavior) *Responder {
	t.Helper()
	r, err := Start(address, b)
	if err != nil {
		if strings.HasPrefix(address, "[") {
			t.Skipf("skipping: no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
