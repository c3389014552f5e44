package wire_test

import (
	"errors"
	"fmt"

	"github.com/udpkit/udpkit/wire"
)

// A server classifies an incoming datagram, parses it and builds the reply
// into a reusable buffer.
func ExampleParse() {
	datagram := wire.AppendData(nil, 0x0123456789abcdef, []byte("temperature=21.5"))
	out := make([]byte, 0, wire.DefaultMaxDatagram)

	if !wire.IsMessage(datagram) {
		fmt.Println("raw text")
		return
	}
	h, body, err := wire.Parse(datagram)
	if err != nil {
		fmt.Println("drop:", err) // never answer a malformed datagram
		return
	}
	fmt.Printf("%v id=%#x body=%q\n", h.Type, h.ID, body)
	if h.Type == wire.TypeData {
		out = wire.AppendAck(out[:0], h.ID)
		fmt.Printf("reply % x\n", out)
	}

	// A datagram that breaks a rule fails with a bare sentinel error (no
	// allocation); Explain says why, for a debug log.
	bad := []byte{0xFA, 0x4B, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	_, _, err = wire.Parse(bad)
	fmt.Println(errors.Is(err, wire.ErrVersion), wire.Explain(bad))
	// Output:
	// data id=0x123456789abcdef body="temperature=21.5"
	// reply fa 4b 01 02 00 00 00 00 01 23 45 67 89 ab cd ef
	// true wire: unsupported protocol version: 2 (this peer speaks 1)
}

// A client encodes a Data message and, later, matches the reply by ID.
func ExampleAppendData() {
	const id = 0x0123456789abcdef
	buf := make([]byte, 0, wire.DefaultMaxDatagram)
	buf = wire.AppendData(buf[:0], id, []byte("hello"))
	fmt.Printf("% x\n", buf)

	// The server refused it: a Nack with the same ID and a reason.
	reply := wire.AppendNack(nil, id, wire.CodeRejected, "unknown sensor", len(buf))
	h, text, err := wire.Parse(reply)
	if err == nil && h.ID == id && h.Type == wire.TypeNack {
		fmt.Printf("rejected: %v: %s\n", h.Code, text)
	}
	// Output:
	// fa 4b 01 01 00 00 00 00 01 23 45 67 89 ab cd ef 68 65 6c 6c 6f
	// rejected: rejected: unkno
}

// AppendNack cuts its text so that the reply is never longer than the
// request, and never in the middle of a UTF-8 character.
func ExampleAppendNack() {
	request := wire.AppendData(nil, 7, []byte("sensor1")) // 23 bytes
	// "zu groß" is 8 bytes (ß is 2); only 7 fit after the 16-byte header.
	reply := wire.AppendNack(nil, 7, wire.CodeTooLarge, "zu groß", len(request))
	_, text, _ := wire.Parse(reply)
	fmt.Printf("request %d bytes, reply %d bytes, text %q\n", len(request), len(reply), text)
	// Output:
	// request 23 bytes, reply 22 bytes, text "zu gro"
}

func ExampleValidateService() {
	fmt.Println(wire.ValidateService("_udpkit._udp"))
	fmt.Println(wire.ValidateService("udpkit"))
	// Output:
	// <nil>
	// wire: invalid name: service type "udpkit" must end in ._udp or ._tcp
}

// Encoding a probe, parsing it as a receiver does (the header once, then
// the body by type) and the reply a responder sends for it.
func ExampleAppendProbe() {
	b := wire.AppendProbe(nil, wire.Probe{Session: 1, Seq: 1, Kind: wire.KindMulticast, TTL: 1,
		Flags: wire.ProbeMember, Count: 10, IntervalMillis: 1000})
	h, body, _ := wire.Parse(b)
	p, _ := wire.ParseProbe(h, body)
	r := wire.AppendReply(nil, wire.ReplyTo(p, 1, 2, wire.ProbeMember, 1, 1))
	fmt.Println(len(b), len(r), p.Kind, p.Seq)
	// Output: 40 40 multicast 1
}
