package mdns

import (
	"context"
	"io"
	"log"
	"net"
	"net/netip"
	"testing"
	"time"

	hmdns "github.com/hashicorp/mdns"
	"github.com/miekg/dns"
	"github.com/udpkit/udpkit/internal/netlab"
)

// TestHashicorpQueryFindsResponder: hashicorp/mdns queries from an
// ephemeral port, so this is the legacy unicast path over real sockets.
func TestHashicorpQueryFindsResponder(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	r, _, _ := startResponder(t, lab.Host(0), ResponderConfig{Instance: "kitchen", Port: 9797, Text: []string{"room=kitchen"}})
	waitFor(t, 10*time.Second, func() bool { return r.announcedOnce() }, "announced")
	entries := make(chan *hmdns.ServiceEntry, 16)
	err := lab.Host(1).Do(func() error {
		return hmdns.Query(&hmdns.QueryParam{Service: "_udpkit._udp", Domain: "local", Timeout: 2 * time.Second,
			Entries: entries, Logger: log.New(io.Discard, "", 0)})
	})
	close(entries)
	if err != nil {
		t.Fatal(err)
	}
	var found *hmdns.ServiceEntry
	for e := range entries {
		found = e
	}
	if found == nil {
		t.Fatal("hashicorp/mdns found nothing")
	}
	if found.Port != 9797 || !found.AddrV4.Equal(lab.Host(0).IPv4.AsSlice()) || len(found.InfoFields) != 1 || found.InfoFields[0] != "room=kitchen" {
		t.Errorf("hashicorp/mdns found %+v", found)
	}
}

// TestBrowserFindsHashicorpServer: a hashicorp/mdns server (which answers
// without delays and puts everything in one answer section) is browsed.
func TestBrowserFindsHashicorpServer(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	var srv *hmdns.Server
	err := lab.Host(1).Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		svc, err := hmdns.NewMDNSService("printer", "_ipp._tcp", "", "hp.local.", 631, []net.IP{lab.Host(1).IPv4.AsSlice()}, []string{"rp=ipp"})
		if err != nil {
			return err
		}
		srv, err = hmdns.NewServer(&hmdns.Config{Zone: svc, Iface: ifi, Logger: log.New(io.Discard, "", 0)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	b := newBrowser(t, lab.Host(0))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var got []Instance
	b.Browse(ctx, "_ipp._tcp", func(in Instance) { got = append(got, in); cancel() })
	if len(got) != 1 || got[0].Name != "printer" || got[0].Port != 631 || len(got[0].Addrs) == 0 || got[0].Addrs[0] != lab.Host(1).IPv4 {
		t.Fatalf("found %+v", got)
	}
}

// TestOffLinkQueryIgnored sends a query over real sockets from an address
// outside the responder's subnet with an IP TTL below 255: no answer.
func TestOffLinkQueryIgnored(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	r, _, _ := startResponder(t, lab.Host(0), ResponderConfig{Instance: "kitchen", Port: 9797})
	waitFor(t, 10*time.Second, func() bool { return r.announcedOnce() }, "announced")
	h := lab.Host(1)
	if out, err := h.Command(t.Context(), "ip", "addr", "add", "203.0.113.7/32", "dev", "eth0").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	q := new(dns.Msg)
	q.SetQuestion("_udpkit._udp.local.", dns.TypePTR)
	q.Id = 77
	msg, _ := q.Pack()
	ask := func(from string) bool {
		var c *net.UDPConn
		if err := h.Do(func() (err error) {
			c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Unicast to the responder's port 5353, TTL 64 (the default).
		if _, err := c.WriteToUDPAddrPort(msg, netip.AddrPortFrom(lab.Host(0).IPv4, Port)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 2000)
		n, _, err := c.ReadFromUDPAddrPort(buf)
		var m dns.Msg
		return err == nil && m.Unpack(buf[:n]) == nil && m.Id == 77 && len(m.Answer) > 0
	}
	if !ask(h.IPv4.String() + ":0") {
		t.Fatal("an on-link legacy query got no answer")
	}
	if ask("203.0.113.7:0") {
		t.Fatal("an off-link query was answered")
	}
	if r.offLink.Load() == 0 {
		t.Error("the off-link query was not counted")
	}
}
