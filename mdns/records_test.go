package mdns

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/udpkit/udpkit/netif"
)

func v4(p string) []netif.IPv4Addr { return []netif.IPv4Addr{{Addr: netip.MustParsePrefix(p)}} }

func TestRenamed(t *testing.T) {
	for _, c := range []struct {
		in   string
		host bool
		want string
	}{
		{"kitchen", false, "kitchen (2)"},
		{"kitchen (2)", false, "kitchen (3)"},
		{"kitchen (9)", false, "kitchen (10)"},
		{"a (b)", false, "a (b) (2)"},
		{"(1)", false, "(1) (2)"},
		{"vm", true, "vm-2"},
		{"vm-2", true, "vm-3"},
		{"vm-1", true, "vm-1-2"},
		{"my-host", true, "my-host-2"},
		{string(make([]byte, 63)), false, string(make([]byte, 59)) + " (2)"},
	} {
		if got := renamed(c.in, c.host); got != c.want {
			t.Errorf("renamed(%q, %v) = %q, want %q", c.in, c.host, got, c.want)
		}
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"Kitchen._udpkit._udp.local.", "kitchen._UDPKIT._udp.local", true},
		{`my\ box._http._tcp.local.`, `my box._http._tcp.local.`, true},
		{`my\032box._http._tcp.local.`, `my box._http._tcp.local.`, true},
		{`a\.b._http._tcp.local.`, `a.b._http._tcp.local.`, false},
		{"é._http._tcp.local.", "É._http._tcp.local.", false}, // only ASCII folds
	} {
		if got := sameName(c.a, c.b); got != c.same {
			t.Errorf("sameName(%q, %q) = %v", c.a, c.b, got)
		}
	}
	got := instanceName("a.b (2)", "_udpkit._udp")
	if l, rest := firstLabel(got); l != "a.b (2)" || rest != "_udpkit._udp.local." {
		t.Errorf("instanceName = %q", got)
	}
	if l, rest := firstLabel(`a\.b\032c.local.`); l != "a.b c" || rest != "local." {
		t.Errorf("firstLabel = %q, %q", l, rest)
	}
}

// TestRecordsRoundTrip packs the published records and reads them back.
func TestRecordsRoundTrip(t *testing.T) {
	l := &netif.Interface{Name: "eth0", Index: 2, IPv4: v4("198.18.0.10/24"),
		IPv6LinkLocal: netip.MustParseAddr("fe80::1%eth0"), IPv6: []netip.Prefix{netip.MustParsePrefix("fd18::10/64")}}
	s := &service{instance: `odd "name"; (x) \ y.z`, service: "_udpkit._udp", host: "vm-1", port: 9797,
		txt: []string{"k=v w", `q="\`, "bin=\x01\xff"}}
	m := new(dns.Msg)
	m.Response = true
	m.Answer = s.records(l, false)
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var back dns.Msg
	if err := back.Unpack(b); err != nil {
		t.Fatal(err)
	}
	var types []uint16
	for i, rr := range back.Answer {
		types = append(types, rr.Header().Rrtype)
		if !sameRecord(rr, m.Answer[i]) {
			t.Errorf("record %d changed: %v -> %v", i, m.Answer[i], rr)
		}
	}
	want := []uint16{dns.TypePTR, dns.TypePTR, dns.TypeSRV, dns.TypeTXT, dns.TypeA, dns.TypeAAAA, dns.TypeAAAA}
	if len(types) != len(want) {
		t.Fatalf("types %v, want %v", types, want)
	}
	ptr := back.Answer[0].(*dns.PTR)
	if label, _ := firstLabel(ptr.Ptr); label != s.instance {
		t.Errorf("instance %q, want %q", label, s.instance)
	}
	txt := back.Answer[3].(*dns.TXT)
	for i, x := range txt.Txt {
		if unescapeTXT(x) != s.txt[i] {
			t.Errorf("TXT %d: %q, want %q", i, unescapeTXT(x), s.txt[i])
		}
	}
	for _, rr := range s.records(l, true) {
		if rr.Header().Ttl != 0 {
			t.Errorf("goodbye %v", rr)
		}
	}
}

func TestCompareProbes(t *testing.T) {
	a := func(s string) dns.RR {
		return &dns.A{Hdr: hdr("h.local.", dns.TypeA, 120), A: netip.MustParseAddr(s).AsSlice()}
	}
	for _, c := range []struct {
		ours, theirs []dns.RR
		want         int
	}{
		{[]dns.RR{a("198.18.0.10")}, []dns.RR{a("198.18.0.11")}, -1},
		{[]dns.RR{a("198.18.0.11")}, []dns.RR{a("198.18.0.10")}, 1},
		{[]dns.RR{a("198.18.0.10")}, []dns.RR{a("198.18.0.10")}, 0},
		{[]dns.RR{a("198.18.0.12"), a("198.18.0.10")}, []dns.RR{a("198.18.0.10"), a("198.18.0.12")}, 0},                                                // order does not matter
		{[]dns.RR{a("198.18.0.10")}, []dns.RR{a("198.18.0.10"), a("198.18.0.12")}, -1},                                                                 // a prefix loses
		{[]dns.RR{&dns.AAAA{Hdr: hdr("h.local.", dns.TypeAAAA, 120), AAAA: netip.MustParseAddr("fd18::1").AsSlice()}}, []dns.RR{a("198.18.0.200")}, 1}, // type 28 > type 1
	} {
		if got := compareProbes(c.ours, c.theirs); got != c.want {
			t.Errorf("compareProbes(%v, %v) = %d, want %d", c.ours, c.theirs, got, c.want)
		}
	}
}

func TestSuppressAndAdditional(t *testing.T) {
	l := &netif.Interface{Name: "eth0", Index: 2, IPv4: v4("198.18.0.10/24")}
	s := &service{instance: "x", service: "_udpkit._udp", host: "h", port: 1}
	all := s.records(l, false)
	ptr := all[0]
	known := dns.Copy(ptr)
	known.Header().Ttl = OtherTTL / 2
	if got := suppress([]dns.RR{ptr}, []dns.RR{known}); len(got) != 0 {
		t.Errorf("a known answer with half the TTL was not suppressed")
	}
	known.Header().Ttl = OtherTTL/2 - 1
	if got := suppress([]dns.RR{ptr}, []dns.RR{known}); len(got) != 1 {
		t.Errorf("a known answer with less than half the TTL suppressed the answer")
	}
	extra := additional([]dns.RR{ptr}, all)
	var types []uint16
	for _, rr := range extra {
		types = append(types, rr.Header().Rrtype)
	}
	if len(types) != 3 || types[0] != dns.TypeSRV || types[1] != dns.TypeTXT || types[2] != dns.TypeA {
		t.Errorf("additional records of a PTR: %v", types)
	}
}

func TestOnLink(t *testing.T) {
	l := &netif.Interface{IPv4: v4("198.18.0.10/24"), IPv6: []netip.Prefix{netip.MustParsePrefix("fd18::10/64")}}
	for _, c := range []struct {
		src  string
		ttl  int
		want bool
	}{
		{"198.18.0.99", 64, true},
		{"198.18.1.99", 64, false},
		{"198.18.1.99", -1, false},
		{"198.18.1.99", 255, true},
		{"fe80::1", 1, true},
		{"fd18::99", 64, true},
		{"2001:db8::1", 64, false},
	} {
		if got := onLink(l, netip.MustParseAddr(c.src), c.ttl); got != c.want {
			t.Errorf("onLink(%s, ttl %d) = %v", c.src, c.ttl, got)
		}
	}
}
