package wire

import (
	"encoding/binary"
	"fmt"
)

// Kind says how a probe was sent: to the group or to one peer.
type Kind uint8

// Probe kinds. Only append: the numbers are the protocol (PROTOCOL.md
// section 7).
const (
	KindMulticast Kind = 1 // sent to the group
	KindUnicast   Kind = 2 // sent to one peer's unicast address
)

// String returns "multicast", "unicast" or "kind(N)".
func (k Kind) String() string {
	switch k {
	case KindMulticast:
		return "multicast"
	case KindUnicast:
		return "unicast"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ProbeFlags are the flag bits of a probe or a reply.
type ProbeFlags uint8

// Probe and reply flags. Senders set unknown bits to zero; receivers
// ignore them.
const (
	// ProbeMember says that the sender of the probe (or of the reply) has
	// joined the group. A peer started with --no-join clears it, so the
	// others report it as "not joined" instead of guessing.
	ProbeMember ProbeFlags = 0x01
	// ProbeLast marks the last probe of a run (sequence number = Count).
	ProbeLast ProbeFlags = 0x02
)

// Body lengths of PROBE and REPLY (PROTOCOL.md section 7). A PROBE may be
// longer (zero padding, ignored); a REPLY is exactly ReplyBodyLen, so a
// reply is never larger than the probe that caused it.
const (
	ProbeBodyLen = 24
	ReplyBodyLen = 24
	// ProbeLen and ReplyLen are the smallest whole datagrams.
	ProbeLen = HeaderLen + ProbeBodyLen
	ReplyLen = HeaderLen + ReplyBodyLen
)

// Probe is one PROBE message: a sequenced, timestamped datagram that a test
// participant sends to the group and to each peer.
type Probe struct {
	// Session identifies the sender's run (random, fixed for the run);
	// it is the high 32 bits of the message ID.
	Session uint32
	// Seq is the sequence number, the low 32 bits of the message ID. 0 is
	// a hello (start-up handshake, never counted); 1..Count are counted.
	Seq uint32
	// Time is the sender's clock in nanoseconds, opaque to everyone else
	// and echoed in the reply.
	Time uint64
	// Kind says whether the probe went to the group or to one peer.
	Kind Kind
	// TTL is the TTL (IPv4) or hop limit (IPv6) the sender set; 0 if
	// unknown.
	TTL uint8
	// Flags are ProbeMember and ProbeLast.
	Flags ProbeFlags
	// Count is the number of counted probes the sender plans to send (0:
	// until stopped).
	Count uint32
	// IntervalMillis is the sender's interval between probes in
	// milliseconds (0: unknown).
	IntervalMillis uint32
	// Cookie echoes the cookie the receiver gave the sender in its REPLY
	// to the sender's hello (Reply.First of a hello's reply; PROTOCOL.md
	// section 7, "Return routability"); 0 when none was received.
	Cookie uint32
	// Pad is the number of zero bytes appended after the body (to test a
	// size); ParseProbe reports how many bytes followed the body.
	Pad int
}

// ID returns the message ID of the probe: Session<<32 | Seq.
func (p Probe) ID() uint64 { return uint64(p.Session)<<32 | uint64(p.Seq) }

// Reply is one REPLY message: the unicast answer to a probe.
type Reply struct {
	// Session and Seq are those of the probe (the same message ID).
	Session uint32
	Seq     uint32
	// Time, Kind and TTL are the probe's, echoed.
	Time uint64
	Kind Kind
	TTL  uint8
	// TTLSeen is the TTL or hop limit the probe arrived with at the
	// responder (0 if the responder's system does not tell).
	TTLSeen uint8
	// Flags are the responder's: ProbeMember if it joined the group.
	Flags ProbeFlags
	// Responder is the responder's own session.
	Responder uint32
	// Received is how many distinct probes of this Kind from this Session
	// the responder has received so far, counting sequence numbers from
	// First on (including this one).
	Received uint32
	// First is the lowest sequence number of this Kind from this Session
	// the responder has received. In the reply to a hello (Seq 0), which
	// counts nothing, it is the responder's cookie for the prober's
	// address, to be echoed in Probe.Cookie.
	First uint32
}

// AppendProbe appends the PROBE datagram for p (header, body, p.Pad zero
// bytes) to dst.
func AppendProbe(dst []byte, p Probe) []byte {
	dst = AppendHeader(dst, Header{Type: TypeProbe, ID: p.ID()})
	dst = binary.BigEndian.AppendUint64(dst, p.Time)
	dst = append(dst, byte(p.Kind), p.TTL, byte(p.Flags), 0)
	dst = binary.BigEndian.AppendUint32(dst, p.Count)
	dst = binary.BigEndian.AppendUint32(dst, p.IntervalMillis)
	dst = binary.BigEndian.AppendUint32(dst, p.Cookie)
	for range max(p.Pad, 0) {
		dst = append(dst, 0)
	}
	return dst
}

// AppendReply appends the REPLY datagram for r to dst.
func AppendReply(dst []byte, r Reply) []byte {
	dst = AppendHeader(dst, Header{Type: TypeReply, ID: uint64(r.Session)<<32 | uint64(r.Seq)})
	dst = binary.BigEndian.AppendUint64(dst, r.Time)
	dst = append(dst, byte(r.Kind), r.TTL, r.TTLSeen, byte(r.Flags))
	dst = binary.BigEndian.AppendUint32(dst, r.Responder)
	dst = binary.BigEndian.AppendUint32(dst, r.Received)
	return binary.BigEndian.AppendUint32(dst, r.First)
}

// ReplyTo returns the reply a responder sends for probe p: the probe's
// fields echoed, with the TTL the probe arrived with and the responder's
// own session, flags and reception counters.
func ReplyTo(p Probe, ttlSeen uint8, responder uint32, flags ProbeFlags, received, first uint32) Reply {
	return Reply{
		Session: p.Session, Seq: p.Seq, Time: p.Time, Kind: p.Kind, TTL: p.TTL,
		TTLSeen: ttlSeen, Flags: flags, Responder: responder, Received: received, First: first,
	}
}

// probeBody checks what PROBE and REPLY bodies share: the header's type,
// the minimum length and a known kind. Like ParseQuery and ParseRecord, it
// does not judge FlagAuth: Parse and ParseAuth have stripped the trailer,
// and whether an authenticated (or unauthenticated) datagram is welcome is
// the auth layer's decision (PROTOCOL.md section 5).
func probeBody(h Header, body []byte, t Type, bodyLen int) bool {
	return h.Type == t && len(body) >= bodyLen &&
		(Kind(body[8]) == KindMulticast || Kind(body[8]) == KindUnicast)
}

// ParseProbe decodes the body of a PROBE whose header Parse returned. It
// fails with the bare ErrMalformed (no allocation: probes arrive at the
// test's rate) when h is not a PROBE, or the body is short
// or names an unknown kind; ExplainProbe says which.
func ParseProbe(h Header, body []byte) (Probe, error) {
	if !probeBody(h, body, TypeProbe, ProbeBodyLen) {
		return Probe{}, ErrMalformed
	}
	return Probe{
		Session:        uint32(h.ID >> 32),
		Seq:            uint32(h.ID),
		Time:           binary.BigEndian.Uint64(body[0:8]),
		Kind:           Kind(body[8]),
		TTL:            body[9],
		Flags:          ProbeFlags(body[10]),
		Count:          binary.BigEndian.Uint32(body[12:16]),
		IntervalMillis: binary.BigEndian.Uint32(body[16:20]),
		Cookie:         binary.BigEndian.Uint32(body[20:24]),
		Pad:            len(body) - ProbeBodyLen,
	}, nil
}

// ParseReply decodes the body of a REPLY whose header Parse returned. A
// reply body must be exactly ReplyBodyLen bytes. Like ParseProbe, it fails
// with the bare ErrMalformed.
func ParseReply(h Header, body []byte) (Reply, error) {
	if !probeBody(h, body, TypeReply, ReplyBodyLen) || len(body) != ReplyBodyLen {
		return Reply{}, ErrMalformed
	}
	return Reply{
		Session:   uint32(h.ID >> 32),
		Seq:       uint32(h.ID),
		Time:      binary.BigEndian.Uint64(body[0:8]),
		Kind:      Kind(body[8]),
		TTL:       body[9],
		TTLSeen:   body[10],
		Flags:     ProbeFlags(body[11]),
		Responder: binary.BigEndian.Uint32(body[12:16]),
		Received:  binary.BigEndian.Uint32(body[16:20]),
		First:     binary.BigEndian.Uint32(body[20:24]),
	}, nil
}

// ExplainProbe returns nil when ParseProbe (t TypeProbe) or ParseReply (t
// TypeReply) accepts h and body, and otherwise ErrMalformed wrapped with
// the reason, for debug logs.
func ExplainProbe(t Type, h Header, body []byte) error {
	bodyLen := ProbeBodyLen
	if t == TypeReply {
		bodyLen = ReplyBodyLen
	}
	switch {
	case h.Type != t:
		return fmt.Errorf("%w: %v is not a %v", ErrMalformed, h.Type, t)
	case len(body) < bodyLen:
		return fmt.Errorf("%w: %v body is %d bytes, need %d", ErrMalformed, t, len(body), bodyLen)
	case Kind(body[8]) != KindMulticast && Kind(body[8]) != KindUnicast:
		return fmt.Errorf("%w: unknown kind %d", ErrMalformed, body[8])
	case t == TypeReply && len(body) != ReplyBodyLen:
		return fmt.Errorf("%w: reply body is %d bytes, want %d", ErrMalformed, len(body), ReplyBodyLen)
	}
	return nil
}
