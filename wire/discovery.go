package wire

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"unicode/utf8"
)

// Record flags (byte 0 of an ANNOUNCE, ANSWER or GOODBYE body).
const (
	// RecordTruncated says the sender left attributes out so that the answer
	// would not be larger than the query; ask again by unicast with a
	// larger query to get them all.
	RecordTruncated = 0x01
)

// Query flags (byte 0 of a QUERY body).
const (
	// QueryAgain says the sender asked before and did not hear every
	// answer it expected (a retransmission: loss is suspected), so an
	// answerer also sends the shared copy of its answer, the one that
	// needs no neighbour resolution (PROTOCOL.md section 6.4). Without it
	// answers go by unicast only.
	QueryAgain = 0x01
)

// Query is the body of a QUERY message (PROTOCOL.md section 6.2).
type Query struct {
	// Service is the service type asked for; "" asks for every service.
	Service string
	// Instance is the instance name asked for; "" asks for every instance.
	Instance string
	// Known lists KnownHash values of the instances the sender already
	// knows; those do not answer (known-answer suppression). At most 255.
	Known []uint64
	// Again is set on a repeated query (QueryAgain): udpkit browsers set
	// it from their third round on.
	Again bool
}

// Record is the body of an ANNOUNCE, ANSWER or GOODBYE message
// (PROTOCOL.md section 6.3): one instance of a service.
type Record struct {
	// Truncated is set when the sender left attributes out (RecordTruncated).
	Truncated bool
	// TTL is how many seconds the record stays valid; 0 in a GOODBYE.
	TTL uint32
	// Port is the UDP port the instance serves on.
	Port uint16
	// Service is the service type, such as "_udpkit._udp".
	Service string
	// Instance is the instance name, unique on the LAN.
	Instance string
	// Addrs are the instance's addresses on the link the message was sent
	// on, without zones (a receiver adds the zone of the link it arrived
	// on to an IPv6 link-local address). At most 255.
	Addrs []netip.Addr
	// Attrs are the attributes in DNS-SD TXT form ("key=value" or "key").
	// At most 255.
	Attrs []string
}

// KnownHash is the 64-bit FNV-1a hash of the service type, a zero byte
// and the instance name, both with ASCII letters lower-cased (names compare
// case-insensitively, as in DNS): how a QUERY lists an instance its sender
// already knows.
func KnownHash(service, instance string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, FoldCase(service))
	io.WriteString(h, "\x00")
	io.WriteString(h, FoldCase(instance))
	return h.Sum64()
}

// QueryFixedLen is the size of a QUERY with empty names and no known
// answers: header, flags, two name lengths, known count.
const QueryFixedLen = HeaderLen + 4

// AppendQuery appends a QUERY message with message ID id to dst and pads
// it with zero bytes to size bytes in all (when it is shorter), so that
// the answers it asks for fit (PROTOCOL.md section 6.4). It reports an
// error for names longer than 255 bytes or more than 255 known hashes.
func AppendQuery(dst []byte, id uint64, q Query, size int) ([]byte, error) {
	if len(q.Service) > 255 || len(q.Instance) > 255 || len(q.Known) > 255 {
		return dst, fmt.Errorf("wire: query too large (service %d, instance %d bytes, %d known)",
			len(q.Service), len(q.Instance), len(q.Known))
	}
	start := len(dst)
	dst = AppendHeader(dst, Header{Type: TypeQuery, ID: id})
	var flags byte
	if q.Again {
		flags |= QueryAgain
	}
	dst = append(dst, flags)
	dst = appendString(dst, q.Service)
	dst = appendString(dst, q.Instance)
	dst = append(dst, byte(len(q.Known)))
	for _, k := range q.Known {
		dst = binary.BigEndian.AppendUint64(dst, k)
	}
	for len(dst)-start < size {
		dst = append(dst, 0)
	}
	return dst, nil
}

// ParseQuery decodes the body of a QUERY (the bytes after the header, as
// Parse returns them). Every error wraps ErrMalformed.
func ParseQuery(body []byte) (Query, error) {
	var q Query
	r := reader{b: body}
	q.Again = r.byte()&QueryAgain != 0 // other bits: reserved, ignored
	q.Service = r.string("service")
	q.Instance = r.string("instance")
	n := int(r.byte())
	if r.err == nil && len(r.b) < 8*n {
		r.fail("%d known answers need %d bytes, %d left", n, 8*n, len(r.b))
	}
	if r.err != nil {
		return Query{}, r.err
	}
	if n > 0 {
		q.Known = make([]uint64, n)
		for i := range q.Known {
			q.Known[i] = binary.BigEndian.Uint64(r.b[8*i:])
		}
	}
	// The rest is padding, ignored.
	if q.Service != "" && !utf8.ValidString(q.Service) || q.Instance != "" && !utf8.ValidString(q.Instance) {
		return Query{}, fmt.Errorf("%w: query name is not UTF-8", ErrMalformed)
	}
	return q, nil
}

// AppendRecord appends an ANNOUNCE, ANSWER or GOODBYE message (t) with
// message ID id and body r to dst. It does not validate r beyond the
// limits of the encoding (a name or list longer than 255).
func AppendRecord(dst []byte, t Type, id uint64, r Record) ([]byte, error) {
	if len(r.Service) > 255 || len(r.Instance) > 255 || len(r.Addrs) > 255 || len(r.Attrs) > 255 {
		return dst, fmt.Errorf("wire: record too large to encode")
	}
	for _, a := range r.Attrs {
		if len(a) > 255 {
			return dst, fmt.Errorf("wire: attribute of %d bytes, at most 255", len(a))
		}
	}
	dst = AppendHeader(dst, Header{Type: t, ID: id})
	var flags byte
	if r.Truncated {
		flags |= RecordTruncated
	}
	dst = append(dst, flags)
	dst = binary.BigEndian.AppendUint32(dst, r.TTL)
	dst = binary.BigEndian.AppendUint16(dst, r.Port)
	dst = appendString(dst, r.Service)
	dst = appendString(dst, r.Instance)
	dst = append(dst, byte(len(r.Addrs)))
	for _, a := range r.Addrs {
		a = a.Unmap().WithZone("")
		if a.Is4() {
			dst = append(dst, 4)
		} else {
			dst = append(dst, 6)
		}
		dst = append(dst, a.AsSlice()...)
	}
	dst = append(dst, byte(len(r.Attrs)))
	for _, a := range r.Attrs {
		dst = appendString(dst, a)
	}
	return dst, nil
}

// RecordLen is the encoded size of r with its header.
func RecordLen(r Record) int {
	n := HeaderLen + 1 + 4 + 2 + 1 + len(r.Service) + 1 + len(r.Instance) + 1 + 1
	for _, a := range r.Addrs {
		if a.Unmap().Is4() {
			n += 5
		} else {
			n += 17
		}
	}
	for _, a := range r.Attrs {
		n += 1 + len(a)
	}
	return n
}

// FitRecord returns r cut to at most limit bytes (header included) by
// leaving attributes out from the end (and setting Truncated), and whether
// it fits at all: a record that does not fit without any attribute is not
// sent (PROTOCOL.md section 6.4).
func FitRecord(r Record, limit int) (Record, bool) {
	n := RecordLen(r)
	if n <= limit {
		return r, true
	}
	k := len(r.Attrs)
	for k > 0 && n > limit {
		k--
		n -= 1 + len(r.Attrs[k])
	}
	if n > limit {
		return Record{}, false
	}
	r.Attrs = r.Attrs[:k:k]
	r.Truncated = true
	return r, true
}

// ParseRecord decodes the body of an ANNOUNCE, ANSWER or GOODBYE (the
// bytes after the header). It checks the structure and the DNS-SD rules
// for names and attributes; every error wraps ErrMalformed. Bytes
// after the attributes are reserved for extensions and ignored.
func ParseRecord(body []byte) (Record, error) {
	var rec Record
	r := reader{b: body}
	flags := r.byte()
	rec.Truncated = flags&RecordTruncated != 0
	rec.TTL = r.uint32()
	rec.Port = r.uint16()
	rec.Service = r.string("service")
	rec.Instance = r.string("instance")
	n := int(r.byte())
	if r.err == nil && n > 0 {
		rec.Addrs = make([]netip.Addr, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		switch fam := r.byte(); fam {
		case 4:
			if b := r.bytes(4, "IPv4 address"); b != nil {
				rec.Addrs = append(rec.Addrs, netip.AddrFrom4([4]byte(b)))
			}
		case 6:
			if b := r.bytes(16, "IPv6 address"); b != nil {
				rec.Addrs = append(rec.Addrs, netip.AddrFrom16([16]byte(b)).Unmap())
			}
		default:
			if r.err == nil {
				r.fail("address family %d (want 4 or 6)", fam)
			}
		}
	}
	n = int(r.byte())
	if r.err == nil && n > 0 {
		rec.Attrs = make([]string, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		rec.Attrs = append(rec.Attrs, r.string("attribute"))
	}
	if r.err != nil {
		return Record{}, r.err
	}
	if rec.Port == 0 {
		return Record{}, fmt.Errorf("%w: port 0", ErrMalformed)
	}
	if err := ValidateService(rec.Service); err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := ValidateInstance(rec.Instance); err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	for _, a := range rec.Attrs {
		if err := ValidateAttr(a); err != nil {
			return Record{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	return rec, nil
}

func appendString(dst []byte, s string) []byte {
	return append(append(dst, byte(len(s))), s...)
}

// reader consumes a body; the first failure sticks and later reads return
// zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (r *reader) bytes(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("%s needs %d bytes, %d left", what, n, len(r.b))
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) byte() byte {
	if b := r.bytes(1, "field"); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) uint16() uint16 {
	if b := r.bytes(2, "field"); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) uint32() uint32 {
	if b := r.bytes(4, "field"); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) string(what string) string {
	n := int(r.byte())
	return string(r.bytes(n, what))
}
