package multicast_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/udpkit/udpkit/multicast"
)

func TestParseGroupPeerSource(t *testing.T) {
	for in, want := range map[string]string{"239.1.2.3": "239.1.2.3:9797", "[ff02::1%eth0]:5": "[ff02::1%eth0]:5", "ff05::1": "[ff05::1]:9797"} {
		if g, err := multicast.ParseGroup(in); err != nil || g.String() != want {
			t.Errorf("ParseGroup(%q) = %v, %v", in, g, err)
		}
	}
	for _, in := range []string{"10.0.0.1:5", "239.1.2.3:0", "x"} {
		if _, err := multicast.ParseGroup(in); err == nil {
			t.Errorf("ParseGroup(%q) accepted", in)
		}
	}
	g := netip.MustParseAddrPort("239.1.2.3:7")
	lookup := func(name string) ([]netip.Addr, error) {
		if name == "b" {
			return []netip.Addr{netip.MustParseAddr("fd18::1"), netip.MustParseAddr("198.18.0.11")}, nil
		}
		return nil, errors.New("no such host")
	}
	if p, err := multicast.ParsePeer("b", g, lookup); err != nil || p.String() != "198.18.0.11:7" {
		t.Errorf("ParsePeer(b) = %v, %v", p, err)
	}
	if _, err := multicast.ParsePeer("c", g, lookup); !errors.Is(err, multicast.ErrUnresolved) {
		t.Errorf("ParsePeer(c) = %v, want ErrUnresolved", err)
	}
	if _, err := multicast.ParsePeer("b", g, nil); err == nil || errors.Is(err, multicast.ErrUnresolved) {
		t.Errorf("ParsePeer without a resolver = %v", err)
	}
	for _, in := range []string{"239.1.1.1", "0.0.0.0", "255.255.255.255", "fd18::1", "198.18.0.1:0"} {
		if _, err := multicast.ParsePeer(in, g, nil); err == nil {
			t.Errorf("ParsePeer(%q) accepted", in)
		}
	}
	if a, err := multicast.ParseSource("::ffff:198.18.0.1", g.Addr()); err != nil || a.String() != "198.18.0.1" {
		t.Errorf("ParseSource = %v, %v", a, err)
	}
	if _, err := multicast.ParseSource("239.1.1.2", g.Addr()); err == nil {
		t.Error("ParseSource accepted a group")
	}
}

// TestParsePeers: this host on the group's port is left out of the list
// (so one command line serves every host), on another port it is a peer;
// the first bad peer's error is ParsePeer's.
func TestParsePeers(t *testing.T) {
	g := netip.MustParseAddrPort("239.1.2.3:7")
	lookup := func(name string) ([]netip.Addr, error) {
		if name == "me" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, errors.New("no such host")
	}
	peers, err := multicast.ParsePeers([]string{"192.0.2.1", "127.0.0.1", "me", "127.0.0.1:8", "192.0.2.2:9"}, g, lookup)
	if err != nil || len(peers) != 3 || peers[0].String() != "192.0.2.1:7" || peers[1].String() != "127.0.0.1:8" || peers[2].String() != "192.0.2.2:9" {
		t.Errorf("ParsePeers = %v, %v; want [192.0.2.1:7 127.0.0.1:8 192.0.2.2:9]", peers, err)
	}
	if _, err := multicast.ParsePeers([]string{"192.0.2.1", "nosuch", "239.1.1.1"}, g, lookup); !errors.Is(err, multicast.ErrUnresolved) {
		t.Errorf("ParsePeers with an unknown name: %v, want ErrUnresolved", err)
	}
	if !multicast.IsSelf(netip.MustParseAddrPort("127.0.0.1:7"), g) || multicast.IsSelf(netip.MustParseAddrPort("127.0.0.1:70"), g) {
		t.Error("IsSelf: 127.0.0.1 on the group's port is this participant, on another port it is not")
	}
}
