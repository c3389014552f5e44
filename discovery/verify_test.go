package discovery

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/wire"
)

// TestLabVerifyPeer: a peer heard only from an ANNOUNCE ranks in no answer
// budget until it answers the server's verification QUERY (verify.go). On
// a namespace LAN, a socket on host 1 announces "peer-1" to the server on
// host 0 and receives the query (a unicast QUERY for its instance, no
// larger than its announcement). An attacker on host 2 answers it from
// the peer's spoofed address with a wrong message ID, and with the right
// ID from its own address: neither verifies. The peer's own answer with
// the query's ID does.
func TestLabVerifyPeer(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 3})
	srvHost, peerHost, attacker := lab.Host(0), lab.Host(1), lab.Host(2)
	a := startAnnouncer(t, srvHost, AnnouncerConfig{Port: 9797, Instance: "server-0"})
	var c *net.UDPConn
	if err := peerHost.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 40500})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peerAddr := netip.AddrPortFrom(peerHost.IPv4, 40500)
	rec := wire.Record{Service: DefaultService, Instance: "peer-1", Port: 9797, TTL: 120, Addrs: []netip.Addr{peerHost.IPv4}}
	ann, err := wire.AppendRecord(nil, wire.TypeAnnounce, 77, rec)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the server runs
	if _, err := c.WriteToUDPAddrPort(ann, netip.AddrPortFrom(srvHost.IPv4, wire.DiscoveryPort)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	var qh wire.Header
	var from netip.AddrPort
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no verification query within 5 s: %v", err)
		}
		h, body, err := wire.Parse(buf[:n])
		if err != nil || h.Type != wire.TypeQuery {
			continue
		}
		q, err := wire.ParseQuery(body)
		if err != nil {
			t.Fatal(err)
		}
		if q.Service != DefaultService || q.Instance != "peer-1" {
			t.Fatalf("query for %q %q, want peer-1", q.Service, q.Instance)
		}
		if n > len(ann) {
			t.Errorf("verification query of %d bytes for an announcement of %d", n, len(ann))
		}
		qh, from = h, src
		break
	}
	answer := func(id uint64) []byte {
		b, err := wire.AppendRecord(nil, wire.TypeAnswer, id, rec)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wait := func(want uint64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for a.Stats().PeersVerified != want {
			if time.Now().After(deadline) {
				t.Fatalf("PeersVerified %d, want %d", a.Stats().PeersVerified, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := attacker.SpoofUDP4(peerAddr, from, answer(qh.ID^1)); err != nil {
		t.Fatal(err)
	}
	if err := attacker.SpoofUDP4(netip.AddrPortFrom(attacker.IPv4, 40500), from, answer(qh.ID)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	wait(0)
	if _, err := c.WriteToUDPAddrPort(answer(qh.ID), from); err != nil {
		t.Fatal(err)
	}
	wait(1)
	if st := a.Stats(); st.VerifyQueries == 0 {
		t.Errorf("VerifyQueries %d", st.VerifyQueries)
	}
}
