package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/wire"
)

// victimSink counts every datagram and byte arriving at one UDP port of a
// lab host, from any source: what a reflection attack makes the LAN send to
// a victim.
type victimSink struct {
	c     *net.UDPConn
	mu    sync.Mutex
	n, by int
	from  map[netip.Addr]int
	byID  map[uint64]int // bytes by message ID, of the datagrams that parse
	arr   []arrival      // every datagram since the last arrivals call
	done  chan struct{}
}

// arrival is one datagram the victim received.
type arrival struct {
	from netip.Addr
	b    []byte
}

func newVictim(t *testing.T, h *netlab.Host, port int) *victimSink {
	t.Helper()
	v := &victimSink{from: map[netip.Addr]int{}, byID: map[uint64]int{}, done: make(chan struct{})}
	if err := h.Do(func() (err error) {
		v.c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(v.done)
		b := make([]byte, 65536)
		for {
			n, src, err := v.c.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			v.mu.Lock()
			v.n++
			v.by += n
			v.from[src.Addr().Unmap()]++
			if h, _, err := wire.Parse(b[:n]); err == nil {
				v.byID[h.ID] += n
			}
			v.arr = append(v.arr, arrival{src.Addr().Unmap(), append([]byte(nil), b[:n]...)})
			v.mu.Unlock()
		}
	}()
	t.Cleanup(func() { v.c.Close(); <-v.done })
	return v
}

// bytesOf returns the bytes counted of the datagrams with message ID id.
func (v *victimSink) bytesOf(id uint64) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.byID[id]
}

// arrivals returns the datagrams received since its last call.
func (v *victimSink) arrivals() []arrival {
	v.mu.Lock()
	defer v.mu.Unlock()
	a := v.arr
	v.arr = nil
	return a
}

// take returns the datagrams and bytes counted since the last take.
func (v *victimSink) take() (n, bytes int, from map[netip.Addr]int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n, bytes, from = v.n, v.by, v.from
	v.n, v.by, v.from = 0, 0, map[netip.Addr]int{}
	return n, bytes, from
}

// TestNoReflection sends every unauthenticated request type to every port
// of two udpservers (announcing) with a victim's address forged as the
// source (raw socket on the attacker's host), and counts every datagram
// that reaches the victim from every host: bytes out / bytes in must stay
// at most 1 (issue 14, item 4).
func TestNoReflection(t *testing.T) {
	srvBin, _ := build(t)
	lab := newLab(t, netlab.Config{Hosts: 4})
	servers := []*server{
		labServer(t, lab.Host(0), srvBin, "--quiet", "--instance", "srv-a", "--attr", "room=kitchen", "--attr", "floor=1"),
		labServer(t, lab.Host(1), srvBin, "--quiet", "--instance", "srv-b", "--attr", "room=garage"),
	}
	waitAnnounced(t, servers)
	// A server with a rate limit of one datagram a second: past its burst,
	// a DATA from the victim's address draws a cookie NACK (cookies).
	labServer(t, lab.Host(1), srvBin, "--quiet", "--no-announce", "--listen", "0.0.0.0:9800", "--rate-limit", "1/s", "--rate-burst", "1")
	time.Sleep(700 * time.Millisecond) // past the start bursts: the servers know each other
	attacker, victimHost := lab.Host(2), lab.Host(3)
	victim := newVictim(t, victimHost, 40406)
	src := netip.AddrPortFrom(victimHost.IPv4, 40406)
	srv := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(lab.Host(0).IPv4, port) }
	limited := netip.AddrPortFrom(lab.Host(1).IPv4, 9800)
	b4 := lab.Host(0).IPv4.As4()
	bcast := netip.AddrFrom4([4]byte{b4[0], b4[1], b4[2], 255})
	query := func(q wire.Query, size int) []byte {
		b, err := wire.AppendQuery(nil, 0x1234, q, size)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	small := wire.QueryFixedLen + len("_udpkit._udp")
	type request struct {
		name    string
		dst     netip.AddrPort
		b       []byte
		servers int // how many hosts the request reaches
	}
	reqs := []request{
		{"server DATA, 1 byte", srv(9797), wire.AppendData(nil, 1, []byte("x")), 1},
		{"server DATA, empty", srv(9797), wire.AppendData(nil, 2, nil), 1},
		{"server PING", srv(9797), wire.AppendHeader(nil, wire.Header{Type: wire.TypePing, ID: 3}), 1},
		{"server raw text, 1 byte", srv(9797), []byte("x"), 1},
		{"server raw text, 5 bytes", srv(9797), []byte("hello"), 1},
		{"server garbage with the magic", srv(9797), []byte{0xfa, 0x4b, 9, 9}, 1},
		// The rate-limited server: the first DATA spends the burst (ACK),
		// the next ones are over the limit: a cookie NACK (24 bytes) for a
		// DATA of 24 bytes or more, never more than the request.
		{"limited server DATA, burst", limited, wire.AppendData(nil, 4, make([]byte, 8)), 1},
		{"limited server DATA 24 B: cookie NACK", limited, wire.AppendData(nil, 5, make([]byte, 8)), 1},
		{"limited server DATA 40 B: cookie NACK", limited, wire.AppendData(nil, 6, make([]byte, 24)), 1},
		{"limited server DATA with a forged cookie", limited, wire.AppendDataCookie(nil, 7, []byte("x"), wire.Cookie{1, 2, 3}), 1},
	}
	for _, size := range []int{small, 200, 512, wire.DefaultMaxDatagram} {
		reqs = append(reqs,
			request{fmt.Sprintf("discovery QUERY unicast, %d bytes", size), srv(9798), query(wire.Query{Service: "_udpkit._udp"}, size), 1},
			request{fmt.Sprintf("discovery QUERY broadcast, %d bytes", size), netip.AddrPortFrom(bcast, 9798), query(wire.Query{Service: "_udpkit._udp"}, size), 2},
			request{fmt.Sprintf("discovery QUERY IPv4 group, %d bytes", size), netip.AddrPortFrom(wire.DiscoveryGroup4, 9798), query(wire.Query{Service: "_udpkit._udp"}, size), 2},
		)
	}
	// A forged ANNOUNCE of a new name from the victim's address draws the
	// servers' verification QUERY (verify.go) to it: one in all, whatever
	// the number of servers it reached (they share its bytes). Names of
	// this size crowd the link from the first one on, after two forged
	// from an address nobody holds (verification is lazy: while every
	// answer fits in one browser round, no name is asked).
	var attrs []string
	for k := range 5 {
		attrs = append(attrs, fmt.Sprintf("k%d=%s", k, strings.Repeat("x", 240)))
	}
	filler := netip.AddrPortFrom(netip.AddrFrom4([4]byte{b4[0], b4[1], b4[2], 250}), 9798)
	for k := range 2 {
		b, err := wire.AppendRecord(nil, wire.TypeAnnounce, uint64(1<<40+k), wire.Record{Service: "_udpkit._udp", Instance: fmt.Sprintf("filler-%d", k),
			Port: 9797, TTL: 120, Addrs: []netip.Addr{filler.Addr()}, Attrs: attrs})
		if err != nil {
			t.Fatal(err)
		}
		if err := attacker.SpoofUDP4(filler, netip.AddrPortFrom(bcast, 9798), b); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // their verification queries go to the filler's address
	for i, dst := range []netip.AddrPort{srv(9798), netip.AddrPortFrom(bcast, 9798), netip.AddrPortFrom(wire.DiscoveryGroup4, 9798)} {
		b, err := wire.AppendRecord(nil, wire.TypeAnnounce, 0, wire.Record{Service: "_udpkit._udp", Instance: fmt.Sprintf("forged-%d", i),
			Port: 9797, TTL: 120, Addrs: []netip.Addr{victimHost.IPv4}, Attrs: attrs})
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, request{fmt.Sprintf("discovery ANNOUNCE to %v", dst.Addr()), dst, b, min(1+i, 2)})
	}
	// Messages that are not requests draw nothing: an ACK or a PONG to the
	// server's port, a GOODBYE or an ANSWER of a name nobody holds to the
	// discovery port (unicast, broadcast, group).
	reqs = append(reqs,
		request{"server ACK", srv(9797), wire.AppendHeader(nil, wire.Header{Type: wire.TypeAck, ID: 8}), 1},
		request{"server PONG", srv(9797), wire.AppendHeader(nil, wire.Header{Type: wire.TypePong, ID: 9}), 1})
	for i, dst := range []netip.AddrPort{srv(9798), netip.AddrPortFrom(bcast, 9798), netip.AddrPortFrom(wire.DiscoveryGroup4, 9798)} {
		for _, typ := range []wire.Type{wire.TypeGoodbye, wire.TypeAnswer} {
			b, err := wire.AppendRecord(nil, typ, uint64(1<<41+2*i)+uint64(typ), wire.Record{Service: "_udpkit._udp", Instance: fmt.Sprintf("nobody-%d", i),
				Port: 9797, TTL: 120, Addrs: []netip.Addr{victimHost.IPv4}})
			if err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, request{fmt.Sprintf("discovery %v to %v", typ, dst.Addr()), dst, b, min(1+i, 2)})
		}
	}
	// A truncation follow-up: a unicast query for one instance by name.
	reqs = append(reqs, request{"discovery QUERY follow-up for one instance", srv(9798),
		query(wire.Query{Service: "_udpkit._udp", Instance: "srv-a"}, wire.DefaultMaxDatagram), 1})
	// Every datagram the victim gets is charged to the request that drew
	// it: replies and answers carry its message ID, a verification query
	// names the forged instance; anything else goes to the request just
	// sent. So a reply late on a loaded machine counts for its own request,
	// not the next one, and the last ones are waited for.
	type tally struct {
		n, out int
		from   map[netip.Addr]int
	}
	tallies := make([]tally, len(reqs))
	byID, byName := map[uint64]int{}, map[string]int{}
	charge := func(cur int) {
		for _, a := range victim.arrivals() {
			k := cur
			if h, body, err := wire.Parse(a.b); err == nil {
				if i, ok := byID[h.ID]; ok {
					k = i
				} else if q, err := wire.ParseQuery(body); h.Type == wire.TypeQuery && err == nil {
					if i, ok := byName[q.Instance]; ok {
						k = i
					}
				}
			}
			if tallies[k].from == nil {
				tallies[k].from = map[netip.Addr]int{}
			}
			tallies[k].n++
			tallies[k].out += len(a.b)
			tallies[k].from[a.from]++
		}
	}
	victim.arrivals()
	for i, r := range reqs {
		// Each with a new message ID: the announcer ignores copies of
		// a query it has handled.
		if _, _, err := wire.Parse(r.b); err == nil {
			r.b[8] = byte(i + 1)
		}
		if h, body, err := wire.Parse(r.b); err == nil {
			byID[h.ID] = i
			if rec, err := wire.ParseRecord(body); h.Type == wire.TypeAnnounce && err == nil {
				byName[rec.Instance] = i
			}
		}
		if err := attacker.SpoofUDP4(src, r.dst, r.b); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond) // answers wait at most 5 ms
		charge(i)
	}
	time.Sleep(time.Second) // the late ones
	charge(len(reqs) - 1)
	for i, r := range reqs {
		n, out := tallies[i].n, tallies[i].out
		ratio := float64(out) / float64(len(r.b))
		t.Logf("%-48s in %4d B -> out %d datagrams, %4d B (%.2f×) from %v", r.name, len(r.b), n, out, ratio, tallies[i].from)
		// Group and broadcast queries too: the servers share the
		// query's bytes as one answer budget (PROTOCOL.md 6.4).
		if ratio > 1 {
			t.Errorf("%s: %d bytes in drew %d bytes out (%.2f×), want at most 1× (%d servers reached)", r.name, len(r.b), out, ratio, r.servers)
		}
		if strings.Contains(r.name, "ANNOUNCE") && n != 1 {
			t.Errorf("%s: %d datagrams out, want the one verification query", r.name, n)
		}
	}
}

// TestNoReflectionSharedQuery: one group or broadcast QUERY with a forged
// source reaches every server on the link. With four announcing udpservers
// the bytes all of them send to the victim, every copy from every host
// counted, stay at most the query's (issue 14 item 4): first rounds and
// repeated ones (QueryAgain: the shared copies to the broadcast address
// count too), service-wide and for every service, at every size; and a
// real browse still finds all four.
func TestNoReflectionSharedQuery(t *testing.T) {
	srvBin, cli := build(t)
	lab := newLab(t, netlab.Config{Hosts: 7})
	var servers []*server
	for i := range 4 {
		servers = append(servers, labServer(t, lab.Host(i), srvBin, "--quiet", "--instance", fmt.Sprintf("srv-%d", i),
			"--attr", fmt.Sprintf("room=room-%d", i), "--attr", "floor=1"))
	}
	waitAnnounced(t, servers)
	time.Sleep(700 * time.Millisecond) // past the start bursts: the servers know each other
	attacker, victimHost := lab.Host(4), lab.Host(5)
	victim := newVictim(t, victimHost, 40407)
	src := netip.AddrPortFrom(victimHost.IPv4, 40407)
	b4 := lab.Host(0).IPv4.As4()
	bcast := netip.AddrPortFrom(netip.AddrFrom4([4]byte{b4[0], b4[1], b4[2], 255}), 9798)
	group := netip.AddrPortFrom(wire.DiscoveryGroup4, 9798)
	id := uint64(0x5000)
	type sentQuery struct {
		id   uint64
		size int
		name string
	}
	var queries []sentQuery
	defer func() {
		// Answers that came after their query's turn count too.
		time.Sleep(300 * time.Millisecond)
		for _, q := range queries {
			if out := victim.bytesOf(q.id); out > q.size {
				t.Errorf("%s, %d bytes: %d bytes out in the end (%.2f×)", q.name, q.size, out, float64(out)/float64(q.size))
			}
		}
	}()
	for _, dst := range []netip.AddrPort{bcast, group} {
		for _, again := range []bool{false, true} {
			for _, service := range []string{"_udpkit._udp", ""} {
				for _, size := range []int{64, 200, 512, wire.DefaultMaxDatagram} {
					id++
					b, err := wire.AppendQuery(nil, id, wire.Query{Service: service, Again: again}, size)
					if err != nil {
						t.Fatal(err)
					}
					victim.take()
					if err := attacker.SpoofUDP4(src, dst, b); err != nil {
						t.Fatal(err)
					}
					time.Sleep(100 * time.Millisecond) // shared copies wait at most 5 ms
					// Counted by message ID (an ANSWER carries its
					// query's): a late answer to the query before, on a
					// loaded machine, is not this one's.
					n, _, from := victim.take()
					out := victim.bytesOf(id)
					queries = append(queries, sentQuery{id, len(b), fmt.Sprintf("QUERY to %v again=%v service=%q", dst, again, service)})
					ratio := float64(out) / float64(len(b))
					t.Logf("QUERY to %v again=%-5v service=%-13q %4d B -> %d datagrams, %4d B (%.2f×) from %v",
						dst, again, service, len(b), n, out, ratio, from)
					if ratio > 1 {
						t.Errorf("QUERY to %v again=%v service=%q: %d bytes in drew %d bytes out from 4 servers (%.2f×)",
							dst, again, service, len(b), out, ratio)
					}
					if size == wire.DefaultMaxDatagram && n == 0 {
						t.Errorf("QUERY to %v again=%v service=%q, %d bytes: no answer at all", dst, again, service, size)
					}
				}
			}
		}
	}
	// A fifth server starts right before forged queries: it has heard
	// none of the four announce (their next refresh is a minute away),
	// yet the five together stay within every query's bytes, from its
	// first milliseconds (while it still asks its peers) and after.
	fresh := labServer(t, lab.Host(6), srvBin, "--quiet", "--instance", "srv-new",
		"--attr", "room=room-new", "--attr", "floor=1")
	waitAnnounced(t, []*server{fresh})
	start := time.Now()
	var sent []struct {
		id   uint64
		size int
		at   time.Duration
	}
	for _, pause := range []time.Duration{0, 300 * time.Millisecond} {
		time.Sleep(pause)
		for i := range 16 {
			id++
			size := []int{200, 330}[i%2] // room for one and for three answers of ~103 bytes
			b, err := wire.AppendQuery(nil, id, wire.Query{Service: "_udpkit._udp"}, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := attacker.SpoofUDP4(src, []netip.AddrPort{bcast, group}[i%2], b); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, struct {
				id   uint64
				size int
				at   time.Duration
			}{id, len(b), time.Since(start)})
			time.Sleep(2 * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond)
	over, in, out := 0, 0, 0
	for _, q := range sent {
		got := victim.bytesOf(q.id)
		in, out = in+q.size, out+got
		if got > q.size {
			over++
			t.Errorf("QUERY %d B, %v after the fifth server announced: %d B out from 5 servers (%.2f×)",
				q.size, q.at.Round(time.Millisecond), got, float64(got)/float64(q.size))
		}
	}
	t.Logf("5 servers, one just started: %d forged QUERYs, %d B in, %d B out (%.2f×), %d over their bytes",
		len(sent), in, out, float64(out)/float64(in), over)
	if out == 0 {
		t.Error("no answer at all to the forged queries")
	}
	// The budget does not cost an honest browser the servers.
	res, code, stderr := discover(t, lab.Host(5), cli, "-n", "5", "-t", "3s")
	if code != 0 || len(res) != 5 {
		t.Errorf("discover: exit %d, found %d of 5: %s", code, len(res), stderr)
	}
}

// TestNoReflectionTruncatedAnswer: the browser's port is a port too. An
// attacker hears a browser's broadcast QUERY (so knows its message ID) and
// answers it with TRUNCATED answers forged from an on-link victim: the
// follow-up QUERYs the browser sends the victim must not outweigh the
// forged answers (bytes out ≤ bytes in), one answer or fifty names.
func TestNoReflectionTruncatedAnswer(t *testing.T) {
	_, cli := build(t)
	lab := newLab(t, netlab.Config{Hosts: 3})
	browserHost, attacker, victimHost := lab.Host(0), lab.Host(1), lab.Host(2)
	victim := newVictim(t, victimHost, 40408)
	src := netip.AddrPortFrom(victimHost.IPv4, 40408)
	var ear *net.UDPConn
	if err := attacker.Do(func() (err error) {
		ear, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 9798})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ear.Close()
	for _, names := range []int{1, 50} {
		time.Sleep(300 * time.Millisecond) // the last follow-ups have arrived
		victim.take()
		for { // the queries of the last browse
			ear.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, _, err := ear.ReadFromUDPAddrPort(make([]byte, 2048)); err != nil {
				break
			}
		}
		done := make(chan struct{})
		var res []discovered
		go func() {
			defer close(done)
			res, _, _ = discover(t, browserHost, cli, "-t", "2s")
		}()
		// The first query heard: its message ID and the browser's port.
		buf := make([]byte, 2048)
		ear.SetReadDeadline(time.Now().Add(10 * time.Second))
		var h wire.Header
		var from netip.AddrPort
		for {
			n, a, err := ear.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("no query heard: %v", err)
			}
			hh, _, err := wire.Parse(buf[:n])
			if err == nil && hh.Type == wire.TypeQuery && a.Addr().Unmap() == browserHost.IPv4 {
				h, from = hh, netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
				break
			}
		}
		in := 0
		for i := range names {
			b, err := wire.AppendRecord(nil, wire.TypeAnswer, h.ID, wire.Record{Truncated: true, TTL: 120, Port: 9797,
				Service: "_udpkit._udp", Instance: fmt.Sprintf("fake-%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			in += len(b)
			if err := attacker.SpoofUDP4(src, from, b); err != nil {
				t.Fatal(err)
			}
		}
		<-done
		n, out, _ := victim.take()
		ratio := float64(out) / float64(in)
		t.Logf("%d truncated answers, %d B in -> %d follow-ups, %d B (%.2f×) to the victim; %d instances listed",
			names, in, n, out, ratio, len(res))
		if out > in {
			t.Errorf("%d forged truncated answers of %d bytes drew %d bytes of follow-ups to the victim (%.2f×)", names, in, out, ratio)
		}
	}
}

// TestTruncatedFollowUpStillWorks: a real server whose answer to a small
// query is truncated still gets asked for its whole record: it answers the
// budgeted follow-up, which proves its address, and the next follow-up is
// padded in full.
func TestTruncatedFollowUpStillWorks(t *testing.T) {
	srvBin, cli := build(t)
	lab := newLab(t, netlab.Config{Hosts: 2})
	long := strings.Repeat("x", 200)
	servers := []*server{labServer(t, lab.Host(0), srvBin, "--quiet", "--instance", "srv-long",
		"--attr", "a="+long, "--attr", "b="+long, "--attr", "c="+long)}
	waitAnnounced(t, servers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := lab.Host(1).Command(ctx, cli, "discover", "--json", "-n", "1", "-t", "5s", "--query-size", "200").Output()
	if err != nil {
		t.Fatalf("discover: %v: %s", err, out)
	}
	var d struct {
		Instance  string         `json:"instance"`
		Attrs     map[string]any `json:"attrs"`
		Truncated bool           `json:"truncated"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &d); err != nil {
		t.Fatalf("discover printed %q: %v", out, err)
	}
	if d.Instance != "srv-long" || d.Truncated || d.Attrs["c"] != long {
		t.Errorf("discover --query-size 200 found %s", out)
	}
}
