package mdns

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/netif"
)

// TestProbeQU: probes ask for unicast answers (RFC 6762 section 8.1).
func TestProbeQU(t *testing.T) {
	s := service{instance: "kitchen", service: "_udpkit._udp", host: "vm-1", port: 9797}
	l := &netif.Interface{Name: "eth0", Index: 2, IPv4: v4("198.18.0.10/15")}
	m := probe(&s, l)
	if len(m.Question) != 2 || len(m.Ns) == 0 {
		t.Fatalf("probe %v", m)
	}
	for _, q := range m.Question {
		if q.Qtype != dns.TypeANY || q.Qclass != dns.ClassINET|unicastResponse {
			t.Errorf("probe question %v: want ANY, class IN with the QU bit", q)
		}
	}
}

// TestGoodbyesKeepAddresses: goodbyes withdraw the instance (PTR, SRV,
// TXT, TTL 0) but not the host's addresses, which other udpservers of the
// machine publish under the same host name.
func TestGoodbyesKeepAddresses(t *testing.T) {
	s := service{instance: "kitchen", service: "_udpkit._udp", host: "vm-1", port: 9797}
	l := &netif.Interface{Name: "eth0", Index: 2, IPv4: v4("198.18.0.10/15")}
	types := map[uint16]int{}
	for _, rr := range goodbyes(&s, l) {
		if rr.Header().Ttl != 0 {
			t.Errorf("goodbye with TTL: %v", rr)
		}
		types[rr.Header().Rrtype]++
	}
	if types[dns.TypePTR] != 2 || types[dns.TypeSRV] != 1 || types[dns.TypeTXT] != 1 || types[dns.TypeA]+types[dns.TypeAAAA] != 0 {
		t.Errorf("goodbye record types %v: want 2 PTR, SRV, TXT and no address", types)
	}
}

func TestDefaultHost(t *testing.T) {
	a := DefaultHost([]string{"198.18.0.10", "fe80::1"})
	if a != DefaultHost([]string{"198.18.0.10", "fe80::1"}) {
		t.Error("DefaultHost is not deterministic")
	}
	if a == DefaultHost([]string{"198.18.0.11", "fe80::2"}) {
		t.Error("DefaultHost ignores the addresses")
	}
	if err := validHost(a); err != nil {
		t.Error(err)
	}
}

// TestLabSameHostShareHostName: two responders of one machine (ports 9797
// and 9798) publish one host name with identical addresses, which is no
// conflict: neither renames, and a browser resolves both to that host.
func TestLabSameHostShareHostName(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	r1, _, _ := startResponder(t, lab.Host(0), ResponderConfig{Instance: "one", Port: 9797})
	r2, _, _ := startResponder(t, lab.Host(0), ResponderConfig{Instance: "two", Port: 9798})
	host := r1.Host()
	if r2.Host() != host {
		t.Fatalf("host names %q and %q on one machine", host, r2.Host())
	}
	b := newBrowser(t, lab.Host(1))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got := map[string]Instance{}
	b.Browse(ctx, "_udpkit._udp", func(in Instance) {
		got[in.Name] = in
		if len(got) == 2 {
			cancel()
		}
	})
	// Both announced (they answered); give a conflict, if any, time to
	// show: announcements go out at 0, 1 and 3 s after probing.
	time.Sleep(1500 * time.Millisecond)
	if r1.Host() != host || r2.Host() != host || r1.Instance() != "one" || r2.Instance() != "two" {
		t.Errorf("renamed: %s/%s and %s/%s, want one/%s and two/%s", r1.Instance(), r1.Host(), r2.Instance(), r2.Host(), host, host)
	}
	for _, n := range []string{"one", "two"} {
		in, ok := got[n]
		if !ok || !strings.EqualFold(in.Host, host+".local.") || len(in.Addrs) == 0 || in.Addrs[0] != lab.Host(0).IPv4 {
			t.Errorf("%s: resolved %+v, want host %s.local. at %v", n, in, host, lab.Host(0).IPv4)
		}
	}
}

// TestLabTTLNotLegacyCap: Instance.TTL is the SRV's real TTL, or 0 when
// only a unicast answer to a one-shot query (TTLs capped at 10 s) was
// heard, never that cap.
func TestLabTTLNotLegacyCap(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	startResponder(t, lab.Host(0), ResponderConfig{Instance: "kitchen", Port: 9797})
	b := newBrowser(t, lab.Host(1))
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		var got *Instance
		b.Browse(ctx, "_udpkit._udp", func(in Instance) { got = &in; cancel() })
		cancel()
		if got == nil {
			t.Fatal("nothing found")
		}
		t.Logf("browse %d: TTL %v after %v", i, got.TTL, got.FoundAfter)
		if got.TTL != 0 && got.TTL != HostTTL*time.Second {
			t.Errorf("TTL %v, want %v (the SRV's) or 0 (unknown)", got.TTL, HostTTL*time.Second)
		}
	}
}
