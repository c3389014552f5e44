package mdns

import (
	"context"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
)

// newLab builds a namespace LAN or skips.
func newLab(t *testing.T, cfg netlab.Config) *netlab.Lab {
	t.Helper()
	if err := netlab.Available(); err != nil {
		t.Skip(err)
	}
	lab, err := netlab.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	return lab
}

// startResponder runs a Responder inside host h until the test ends.
func startResponder(t *testing.T, h *netlab.Host, cfg ResponderConfig) (*Responder, context.CancelFunc, <-chan struct{}) {
	t.Helper()
	var r *Responder
	if err := h.Do(func() (err error) { r, err = NewResponder(cfg); return err }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r, cancel, done
}

func newBrowser(t *testing.T, h *netlab.Host) *Browser {
	t.Helper()
	var b *Browser
	if err := h.Do(func() (err error) { b, err = NewBrowser(BrowserConfig{}); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestLabBrowseOwnResponder(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 3})
	startResponder(t, lab.Host(0), ResponderConfig{Instance: "kitchen hub", Port: 9797, Text: []string{"room=kitchen", "udpkit=1"}})
	startResponder(t, lab.Host(1), ResponderConfig{Instance: "attic", Port: 9797})
	b := newBrowser(t, lab.Host(2))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	got := map[string]Instance{}
	b.Browse(ctx, "_udpkit._udp", func(in Instance) {
		t.Logf("%+v", in)
		got[in.Name] = in
		if len(got) == 2 {
			cancel()
		}
	})
	k, ok := got["kitchen hub"]
	if !ok || k.Port != 9797 || len(k.Addrs) == 0 || k.Addrs[0] != lab.Host(0).IPv4 {
		t.Fatalf("kitchen hub: %+v", k)
	}
	if len(k.Text) != 2 || k.Text[0] != "room=kitchen" {
		t.Errorf("TXT %q", k.Text)
	}
	if _, ok := got["attic"]; !ok {
		t.Errorf("attic not found: %v", got)
	}
}

// TestLabPerInterfaceRecords: a responder on two segments publishes on
// each one that segment's addresses only; with -I eth0 nothing reaches
// segment B.
func TestLabPerInterfaceRecords(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 4, SecondSegment: []int{0, 1, 3}})
	startResponder(t, lab.Host(0), ResponderConfig{Instance: "both", Port: 9797})
	startResponder(t, lab.Host(1), ResponderConfig{Instance: "only-a", Port: 9797, Interfaces: []string{"eth0"}})
	browse := func(h *netlab.Host, specs ...string) map[string]Instance {
		var b *Browser
		if err := h.Do(func() (err error) { b, err = NewBrowser(BrowserConfig{Interfaces: specs}); return err }); err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		got := map[string]Instance{}
		b.Browse(ctx, "_udpkit._udp", func(in Instance) { got[in.Name] = in })
		return got
	}
	onA := browse(lab.Host(2)) // segment A only
	onB := browse(lab.Host(3), "eth1")
	addrs := func(in Instance) map[string]bool {
		m := map[string]bool{}
		for _, a := range in.Addrs {
			m[a.WithZone("").String()] = true
		}
		return m
	}
	h0 := lab.Host(0)
	if a := addrs(onA["both"]); !a[h0.IPv4.String()] || !a[h0.IPv6.String()] || a[h0.SecondIPv4.String()] || a[h0.SecondIPv6.String()] {
		t.Errorf("segment A got %v for both", onA["both"].Addrs)
	}
	if b := addrs(onB["both"]); !b[h0.SecondIPv4.String()] || b[h0.IPv4.String()] || b[h0.IPv6.String()] {
		t.Errorf("segment B got %v for both", onB["both"].Addrs)
	}
	if _, ok := onA["only-a"]; !ok {
		t.Error("only-a not found on segment A")
	}
	if in, ok := onB["only-a"]; ok {
		t.Errorf("only-a (-I eth0) reached segment B: %+v", in)
	}
}
