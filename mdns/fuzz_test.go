package mdns

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/udpkit/udpkit/netif"
)

// memConn records what is written; reads block until closed.
type memConn struct {
	mu     sync.Mutex
	sent   [][]byte
	closed chan struct{}
}

func newMemConn() *memConn { return &memConn{closed: make(chan struct{})} }

func (c *memConn) read([]byte) (int, rxInfo, error) { <-c.closed; return 0, rxInfo{}, net.ErrClosed }
func (c *memConn) write(b []byte, _ netip.AddrPort, _ int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, append([]byte(nil), b...))
	return nil
}
func (c *memConn) close() error { return nil }

// testResponder is a responder past probing on one fake link.
func testResponder() (*Responder, *memConn) {
	c := newMemConn()
	r := &Responder{
		links: []netif.Interface{{Name: "eth0", Index: 2, IPv4: v4("198.18.0.10/24")}},
		log:   discardLogger(), c4: c, lastSent: map[string]time.Time{}, phase: phaseSteady,
		svc: service{instance: "x", service: "_udpkit._udp", host: "h", port: 9797, txt: []string{"a=b"}},
	}
	return r, c
}

func FuzzResponderHandle(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("_udpkit._udp.local.", dns.TypePTR)
	b, _ := q.Pack()
	f.Add(b, uint16(5353))
	f.Add(b, uint16(40000))
	r0, _ := testResponder()
	resp := new(dns.Msg)
	resp.Response = true
	resp.Answer = r0.svc.records(&r0.links[0], false)
	b, _ = resp.Pack()
	f.Add(b, uint16(5353))
	f.Add([]byte{0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c}, uint16(5353)) // a pointer loop
	f.Fuzz(func(t *testing.T, data []byte, port uint16) {
		r, c := testResponder()
		src := netip.AddrPortFrom(netip.MustParseAddr("198.18.0.20"), port)
		r.handle(packet{data: data, info: rxInfo{src: src, ifIndex: 2, ttl: 255}, family: 4, c: c}, time.Now())
		r.tick(time.Now().Add(time.Second))
		for _, out := range c.sent {
			if len(out) > maxSend+512 {
				t.Fatalf("sent %d bytes", len(out))
			}
		}
	})
}

func FuzzBrowserHandle(f *testing.F) {
	r0, _ := testResponder()
	resp := new(dns.Msg)
	resp.Response = true
	resp.Answer = r0.svc.records(&r0.links[0], false)
	b, _ := resp.Pack()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		br := &Browser{links: r0.links, log: discardLogger()}
		st := &browse{b: br, start: time.Now(), types: map[string]*question{}, typeNames: map[string]string{},
			cache: map[string][]cached{}, insts: map[string]*instState{}, fn: func(Instance) {}}
		st.addType("_udpkit._udp", time.Now())
		st.handle(packet{data: data, info: rxInfo{src: netip.MustParseAddrPort("198.18.0.20:5353"), ifIndex: 2, ttl: 255}, family: 4}, time.Now())
	})
}

// TestResponderAnswers checks the answer rules on the fake link: legacy
// unicast, known answers, delays and the rate limit.
func TestResponderAnswers(t *testing.T) {
	query := func(id uint16, name string, t uint16, known ...dns.RR) []byte {
		q := new(dns.Msg)
		q.SetQuestion(name, t)
		q.Id = id
		q.Answer = known
		b, _ := q.Pack()
		return b
	}
	src := func(port uint16) rxInfo {
		return rxInfo{src: netip.AddrPortFrom(netip.MustParseAddr("198.18.0.20"), port), ifIndex: 2, ttl: 64}
	}
	now := time.Now()

	// Legacy unicast: at once, ID and question echoed, TTL <= 10, no cache flush.
	r, c := testResponder()
	r.handle(packet{data: query(4242, "_udpkit._udp.local.", dns.TypePTR), info: src(40000), family: 4, c: c}, now)
	if len(c.sent) != 1 {
		t.Fatalf("legacy query: %d replies", len(c.sent))
	}
	var m dns.Msg
	if err := m.Unpack(c.sent[0]); err != nil {
		t.Fatal(err)
	}
	if m.Id != 4242 || len(m.Question) != 1 || len(m.Answer) != 1 || len(m.Extra) != 3 {
		t.Fatalf("legacy reply %v", &m)
	}
	for _, rr := range append(m.Answer, m.Extra...) {
		if rr.Header().Ttl > LegacyTTL || rr.Header().Class&cacheFlush != 0 {
			t.Errorf("legacy record %v", rr)
		}
	}

	// Shared record: delayed 20-120 ms, then multicast once; a second
	// query within a second gets nothing (rate limit).
	r, c = testResponder()
	r.handle(packet{data: query(0, "_udpkit._udp.local.", dns.TypePTR), info: src(5353), family: 4, c: c}, now)
	if len(c.sent) != 0 || len(r.pending) != 1 {
		t.Fatalf("shared answer not delayed: %d sent, %d pending", len(c.sent), len(r.pending))
	}
	if d := r.pending[0].due.Sub(now); d < sharedDelayMin || d > sharedDelayMax {
		t.Errorf("delay %v", d)
	}
	r.tick(now.Add(sharedDelayMax))
	if len(c.sent) != 1 {
		t.Fatalf("%d sent after the delay", len(c.sent))
	}
	r.handle(packet{data: query(0, "_udpkit._udp.local.", dns.TypePTR), info: src(5353), family: 4, c: c}, now.Add(500*time.Millisecond))
	r.tick(now.Add(700 * time.Millisecond))
	if len(c.sent) != 1 {
		t.Errorf("record multicast twice within a second")
	}

	// Unique record: at once.
	r, c = testResponder()
	r.handle(packet{data: query(0, "x._udpkit._udp.local.", dns.TypeSRV), info: src(5353), family: 4, c: c}, now)
	if len(c.sent) != 1 {
		t.Fatalf("SRV query: %d sent at once", len(c.sent))
	}
	m = dns.Msg{}
	m.Unpack(c.sent[0])
	if m.Answer[0].Header().Class&cacheFlush == 0 || m.Id != 0 || len(m.Question) != 0 {
		t.Errorf("multicast answer %v", &m)
	}

	// QU question: multicast when the record was not multicast within a
	// quarter of its TTL, unicast to the querier after an announcement.
	quQuery := func() []byte {
		q := new(dns.Msg)
		q.Question = []dns.Question{{Name: "x._udpkit._udp.local.", Qtype: dns.TypeSRV, Qclass: dns.ClassINET | unicastResponse}}
		b, _ := q.Pack()
		return b
	}
	r, c = testResponder()
	w := &addrConn{memConn: c}
	r.c4 = w
	r.handle(packet{data: quQuery(), info: src(5353), family: 4, c: w}, now)
	r.announce(now.Add(time.Second))
	r.handle(packet{data: quQuery(), info: src(5353), family: 4, c: w}, now.Add(3*time.Second))
	if len(w.dsts) != 2+1 || w.dsts[0] != group(4) || w.dsts[2] != src(5353).src {
		t.Errorf("QU answers went to %v, want the group first, then (after the announcement) the querier", w.dsts)
	}

	// Known answer with full TTL: nothing.
	r, c = testResponder()
	ptr := r.svc.records(&r.links[0], false)[0]
	r.handle(packet{data: query(0, "_udpkit._udp.local.", dns.TypePTR, ptr), info: src(5353), family: 4, c: c}, now)
	r.tick(now.Add(time.Second))
	if len(c.sent) != 0 {
		t.Errorf("answered despite the known answer")
	}

	// Off-link source: nothing.
	r, c = testResponder()
	off := rxInfo{src: netip.MustParseAddrPort("203.0.113.9:40000"), ifIndex: 2, ttl: 60}
	r.handle(packet{data: query(1, "_udpkit._udp.local.", dns.TypePTR), info: off, family: 4, c: c}, now)
	if len(c.sent) != 0 || r.offLink.Load() != 1 {
		t.Errorf("off-link query answered (%d sent, %d counted)", len(c.sent), r.offLink.Load())
	}

	// Malformed: counted.
	r.handle(packet{data: []byte{1, 2, 3}, info: src(5353), family: 4, c: c}, now)
	if r.malformed.Load() != 1 {
		t.Errorf("malformed datagram not counted")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// addrConn records destinations too.
type addrConn struct {
	*memConn
	dsts []netip.AddrPort
}

func (c *addrConn) write(b []byte, dst netip.AddrPort, ifIndex int) error {
	c.dsts = append(c.dsts, dst)
	return c.memConn.write(b, dst, ifIndex)
}
