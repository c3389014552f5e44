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
