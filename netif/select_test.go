package netif

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// fakeSource is an in-memory source.
type fakeSource struct {
	ifs    []net.Interface
	addrs  map[string][]string
	def    string
	defErr error
}

func (f fakeSource) Interfaces() ([]net.Interface, error) { return f.ifs, nil }

func (f fakeSource) Addrs(ifi net.Interface) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range f.addrs[ifi.Name] {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out, nil
}

func (f fakeSource) DefaultInterfaceName() (string, error) { return f.def, f.defErr }

const (
	up    = net.FlagUp | net.FlagRunning
	bcast = net.FlagBroadcast
	mcast = net.FlagMulticast
)

// lan is a machine with one of each kind of interface.
func lan() fakeSource {
	return fakeSource{
		ifs: []net.Interface{
			{Index: 1, MTU: 65536, Name: "lo", Flags: up | net.FlagLoopback},
			{Index: 2, MTU: 1500, Name: "eth0", Flags: up | bcast | mcast},
			{Index: 3, MTU: 1500, Name: "eth1", Flags: up | bcast | mcast},
			{Index: 4, MTU: 1420, Name: "wg0", Flags: up | net.FlagPointToPoint},
			{Index: 5, MTU: 1500, Name: "eth2", Flags: bcast | mcast},
			{Index: 6, MTU: 1500, Name: "dummy0", Flags: up | bcast | mcast},
			{Index: 7, MTU: 1500, Name: "eth3", Flags: up | bcast | mcast},
			{Index: 8, MTU: 1500, Name: "v6only", Flags: up | mcast},
		},
		addrs: map[string][]string{
			"lo":     {"127.0.0.1/8", "::1/128"},
			"eth0":   {"198.18.0.10/24", "fe80::10/64", "fd18::10/64"},
			"eth1":   {"198.18.1.10/24", "198.18.3.4/31"},
			"wg0":    {"10.9.0.1/32"},
			"eth2":   {"198.18.2.10/24"},
			"eth3":   {"20.0.0.5/24"},
			"v6only": {"fe80::8/64"},
		},
		def: "eth0",
	}
}

func TestSelect(t *testing.T) {
	defErr := lan()
	defErr.def, defErr.defErr = "", errors.New("No default interface found")
	tests := []struct {
		name    string
		src     fakeSource
		specs   []string
		want    []string // selected names, in order
		skipped []Skipped
	}{
		{
			name:  "default",
			specs: nil,
			want:  []string{"eth0", "eth1", "eth3", "v6only"},
			skipped: []Skipped{
				{"lo", ReasonLoopback}, {"wg0", ReasonNoBcastMcast}, {"eth2", ReasonDown}, {"dummy0", ReasonNoAddress},
			},
		},
		{name: "name", specs: []string{"eth1"}, want: []string{"eth1"}},
		{name: "loopback by name", specs: []string{"lo"}, want: []string{"lo"}},
		{name: "point-to-point by name", specs: []string{"wg0"}, want: []string{"wg0"}},
		{name: "spaces around name", specs: []string{" eth1 "}, want: []string{"eth1"}},
		{
			name: "cidr skips down interface", specs: []string{"198.18.0.0/15"}, want: []string{"eth0", "eth1"},
			skipped: []Skipped{
				{"lo", ReasonNotMatched}, {"wg0", ReasonNotMatched}, {"eth2", ReasonDown},
				{"dummy0", ReasonNotMatched}, {"eth3", ReasonNotMatched}, {"v6only", ReasonNotMatched},
			},
		},
		{name: "cidr not masked", specs: []string{"198.18.1.77/24"}, want: []string{"eth1"}},
		{name: "cidr ipv6 ula", specs: []string{"fd18::/16"}, want: []string{"eth0"}},
		{name: "cidr ipv6 link-local", specs: []string{"fe80::/10"}, want: []string{"eth0", "v6only"}},
		{name: "address", specs: []string{"198.18.3.4"}, want: []string{"eth1"}},
		{name: "zoned address", specs: []string{"fe80::10%eth0"}, want: []string{"eth0"}},
		{name: "zoned address by index", specs: []string{"fe80::10%2"}, want: []string{"eth0"}},
		{name: "union sorted and deduplicated", specs: []string{"eth1", "198.18.0.0/16", "eth0"}, want: []string{"eth0", "eth1"}},
		{
			name:  "template all by name",
			specs: []string{`{{ GetAllInterfaces | include "name" "^eth[01]$" }}`},
			want:  []string{"eth0", "eth1"},
		},
		{
			name:  "template private broadcast",
			specs: []string{`{{ GetPrivateInterfaces | include "flags" "broadcast" }}`},
			want:  []string{"eth0", "eth1"},
		},
		{
			name:  "template private without default route",
			src:   defErr,
			specs: []string{`{{ GetPrivateInterfaces | include "flags" "broadcast" | join "address" " " }}`},
			want:  []string{"eth0", "eth1"},
		},
		{name: "template public", specs: []string{`{{ GetPublicInterfaces }}`}, want: []string{"eth3"}},
		{
			name:  "template network attr",
			specs: []string{`{{ GetAllInterfaces | include "network" "198.18.1.0/24" | attr "address" }}`},
			want:  []string{"eth1"},
		},
		{
			name:  "template names",
			specs: []string{`{{ GetAllInterfaces | include "flags" "loopback" | attr "name" }}`},
			want:  []string{"lo"},
		},
		{name: "template GetInterfaceIP", specs: []string{`{{ GetInterfaceIP "eth1" }}`}, want: []string{"eth1"}},
		{name: "template GetPrivateIPs", specs: []string{`{{ GetPrivateIPs }}`}, want: []string{"eth0", "eth1", "wg0"}},
		{name: "template GetDefaultInterfaces", specs: []string{`{{ GetDefaultInterfaces }}`}, want: []string{"eth0"}},
		{
			name:  "template ipv6 link-local",
			specs: []string{`{{ GetAllInterfaces | include "rfc" "4291" | include "flags" "link-local unicast" }}`},
			want:  []string{"eth0", "v6only"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src.ifs == nil {
				src = lan()
			}
			sel, err := selectFrom(src, tt.specs)
			if err != nil {
				t.Fatalf("selectFrom(%q): %v", tt.specs, err)
			}
			if got := sel.Names(); !slices.Equal(got, tt.want) {
				t.Errorf("selected %q, want %q", got, tt.want)
			}
			if tt.skipped != nil && !slices.Equal(sel.Skipped, tt.skipped) {
				t.Errorf("skipped %v, want %v", sel.Skipped, tt.skipped)
			}
			if n := len(sel.Interfaces) + len(sel.Skipped); n != len(src.ifs) {
				t.Errorf("%d selected + skipped, want %d", n, len(src.ifs))
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	noDef := lan()
	noDef.def, noDef.defErr = "", errors.New("No default interface found")
	allDown := fakeSource{
		ifs:   []net.Interface{{Index: 1, Name: "lo", Flags: up | net.FlagLoopback}, {Index: 2, Name: "eth0", Flags: bcast}},
		addrs: map[string][]string{"lo": {"127.0.0.1/8"}, "eth0": {"198.18.0.10/24"}},
	}
	tests := []struct {
		name  string
		src   fakeSource
		specs []string
		is    error
		msg   string // the whole message, or a part of it when partial
		part  bool
	}{
		{
			name: "unknown name", specs: []string{"eth9"}, is: ErrNoMatch,
			msg: `no interface matches "eth9"; available: lo, eth0, eth1, wg0, eth2, dummy0, eth3, v6only`,
		},
		{
			name: "down", specs: []string{"eth2"}, is: ErrNoMatch,
			msg: `no interface matches "eth2" with a usable interface (eth2: down); available: lo, eth0, eth1, wg0, eth2, dummy0, eth3, v6only`,
		},
		{name: "no address", specs: []string{"dummy0"}, is: ErrNoMatch, msg: `(dummy0: no address)`, part: true},
		{name: "one bad spec among good", specs: []string{"eth0", "eth9"}, is: ErrNoMatch, msg: `no interface matches "eth9"`, part: true},
		{name: "cidr outside", specs: []string{"192.0.2.0/24"}, is: ErrNoMatch, msg: `no interface matches "192.0.2.0/24"`, part: true},
		{name: "zone mismatch", specs: []string{"fe80::10%eth1"}, is: ErrNoMatch, msg: `no interface matches "fe80::10%eth1"`, part: true},
		{name: "empty spec", specs: []string{" "}, msg: `empty interface spec " "`},
		{name: "bad cidr", specs: []string{"198.18.1.0/33"}, msg: `invalid CIDR "198.18.1.0/33"`, part: true},
		{
			name: "template selects nothing", specs: []string{`{{ GetAllInterfaces | include "name" "nope" }}`}, is: ErrNoMatch,
			msg: `holds no address or name of an interface`, part: true,
		},
		{name: "template syntax", specs: []string{`{{ GetAllInterfaces | `}, msg: `parsing interface template`, part: true},
		{name: "template unknown function", specs: []string{`{{ GetEverything }}`}, msg: `function "GetEverything" not defined`, part: true},
		{name: "template bad argument", specs: []string{`{{ GetAllInterfaces | include "flags" "shiny" }}`}, msg: `Unknown interface flag`, part: true},
		{
			name: "template needs default route", src: noDef, specs: []string{`{{ GetDefaultInterfaces }}`}, is: ErrNoDefaultRoute,
			msg: `no default route: No default interface found`, part: true,
		},
		{
			name: "default selects nothing", src: allDown, is: ErrNoMatch,
			msg: `no interface matches the default selection (up, not loopback, with an address, broadcast or multicast); skipped: lo: loopback, eth0: down`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src.ifs == nil {
				src = lan()
			}
			_, err := selectFrom(src, tt.specs)
			if err == nil {
				t.Fatalf("selectFrom(%q) succeeded, want an error", tt.specs)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %q", err, tt.is)
			}
			if tt.part && !strings.Contains(err.Error(), tt.msg) || !tt.part && err.Error() != tt.msg {
				t.Errorf("error\n %s\nwant\n %s", err, tt.msg)
			}
		})
	}
}

func TestDefaultErrorKeepsSkipped(t *testing.T) {
	src := fakeSource{ifs: []net.Interface{{Index: 1, Name: "lo", Flags: up | net.FlagLoopback}}}
	sel, err := selectFrom(src, nil)
	if !errors.Is(err, ErrNoMatch) {
		t.Fatalf("err = %v, want ErrNoMatch", err)
	}
	if want := []Skipped{{"lo", ReasonLoopback}}; !slices.Equal(sel.Skipped, want) {
		t.Errorf("skipped %v, want %v", sel.Skipped, want)
	}
}

func TestInterfaceAddresses(t *testing.T) {
	sel, err := selectFrom(lan(), []string{"eth0", "eth1", "lo", "wg0"})
	if err != nil {
		t.Fatal(err)
	}
	eth0, _ := sel.Lookup("eth0")
	if want := netip.MustParseAddr("fe80::10%eth0"); eth0.IPv6LinkLocal != want {
		t.Errorf("eth0 link-local %v, want %v", eth0.IPv6LinkLocal, want)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("fd18::10/64")}; !slices.Equal(eth0.IPv6, want) {
		t.Errorf("eth0 IPv6 %v, want %v", eth0.IPv6, want)
	}
	eth1, _ := sel.Lookup("eth1")
	wantV4 := []IPv4Addr{
		{netip.MustParsePrefix("198.18.1.10/24"), netip.MustParseAddr("198.18.1.255")},
		{netip.MustParsePrefix("198.18.3.4/31"), netip.Addr{}},
	}
	if !slices.Equal(eth1.IPv4, wantV4) {
		t.Errorf("eth1 IPv4 %v, want %v", eth1.IPv4, wantV4)
	}
	lo, _ := sel.Lookup("lo")
	if lo.IPv4[0].Broadcast.IsValid() || lo.CanBroadcast() || lo.CanMulticast() {
		t.Errorf("lo: broadcast %v, CanBroadcast %v, CanMulticast %v; want none", lo.IPv4[0].Broadcast, lo.CanBroadcast(), lo.CanMulticast())
	}
	if len(lo.IPv6) != 1 || lo.IPv6LinkLocal.IsValid() {
		t.Errorf("lo IPv6 %v link-local %v, want [::1/128] and none", lo.IPv6, lo.IPv6LinkLocal)
	}
	wg0, _ := sel.Lookup("wg0")
	if !wg0.HasAddr() || wg0.CanBroadcast() || wg0.CanMulticast() {
		t.Errorf("wg0: HasAddr %v CanBroadcast %v CanMulticast %v", wg0.HasAddr(), wg0.CanBroadcast(), wg0.CanMulticast())
	}
	if got := len(sel.Broadcast()); got != 2 {
		t.Errorf("Broadcast() has %d interfaces, want 2", got)
	}
	if got := len(sel.Multicast()); got != 2 {
		t.Errorf("Multicast() has %d interfaces, want 2", got)
	}
	if _, ok := sel.Lookup("eth3"); ok {
		t.Error("Lookup found an interface that was not selected")
	}
}

func TestBroadcastAddr(t *testing.T) {
	tests := []struct{ prefix, want string }{
		{"198.18.0.10/24", "198.18.0.255"},
		{"198.18.0.10/15", "198.19.255.255"},
		{"10.0.0.1/8", "10.255.255.255"},
		{"198.18.0.5/30", "198.18.0.7"},
		{"198.18.0.4/31", ""},
		{"198.18.0.4/32", ""},
		{"0.0.0.0/0", "255.255.255.255"},
		{"fd18::1/64", ""},
	}
	for _, tt := range tests {
		got := broadcastAddr(netip.MustParsePrefix(tt.prefix))
		if tt.want == "" && got.IsValid() || tt.want != "" && got != netip.MustParseAddr(tt.want) {
			t.Errorf("broadcastAddr(%s) = %v, want %q", tt.prefix, got, tt.want)
		}
	}
}

// TestSystem reads the real machine's interfaces. It never sends anything.
func TestSystem(t *testing.T) {
	sel, err := Select()
	if err != nil && !errors.Is(err, ErrNoMatch) {
		t.Fatalf("Select(): %v", err)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sel.Interfaces) + len(sel.Skipped); n != len(ifs) {
		t.Errorf("Select() accounts for %d interfaces, the system has %d", n, len(ifs))
	}
	for _, ifi := range sel.Interfaces {
		if ifi.Flags&net.FlagLoopback != 0 || ifi.Flags&net.FlagUp == 0 {
			t.Errorf("default selection holds %s (%v)", ifi.Name, ifi.Flags)
		}
		if ll := ifi.IPv6LinkLocal; ll.IsValid() && ll.Zone() != ifi.Name {
			t.Errorf("%s: link-local %v lacks its zone", ifi.Name, ll)
		}
	}
	t.Logf("default selection: %q, skipped %v", sel.Names(), sel.Skipped)

	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback == 0 || ifi.Flags&net.FlagUp == 0 {
			continue
		}
		sel, err := Select(ifi.Name)
		if err != nil {
			t.Fatalf("Select(%q): %v", ifi.Name, err)
		}
		if got := sel.Names(); !slices.Equal(got, []string{ifi.Name}) {
			t.Errorf("Select(%q) = %q", ifi.Name, got)
		}
		sel, err = Select("127.0.0.0/8")
		if err != nil {
			t.Fatalf("Select(127.0.0.0/8): %v", err)
		}
		if got := sel.Names(); !slices.Contains(got, ifi.Name) {
			t.Errorf("Select(127.0.0.0/8) = %q, want %s in it", got, ifi.Name)
		}
	}
	if _, err := Select(`{{ GetAllInterfaces | include "flags" "loopback" }}`); err != nil {
		t.Errorf("template on the real machine: %v", err)
	}
}

func TestSourceFor(t *testing.T) {
	ifi := Interface{Name: "eth0",
		IPv4:          []IPv4Addr{{Addr: netip.MustParsePrefix("198.18.0.10/24")}},
		IPv6LinkLocal: netip.MustParseAddr("fe80::10%eth0"),
		IPv6:          []netip.Prefix{netip.MustParsePrefix("fd18::10/64")}}
	for group, want := range map[string]string{
		"239.1.2.3": "198.18.0.10", "ff02::1234": "fe80::10%eth0", "ff01::1": "fe80::10%eth0", "ff15::1": "fd18::10",
	} {
		if got := ifi.SourceFor(netip.MustParseAddr(group)); got.String() != want {
			t.Errorf("SourceFor(%s) = %v, want %s", group, got, want)
		}
	}
	if got := (Interface{}).SourceFor(netip.MustParseAddr("ff15::1")); got.IsValid() {
		t.Errorf("no address: %v", got)
	}
}

func TestIsLocalIsBroadcast(t *testing.T) {
	if !IsLocal(netip.MustParseAddr("127.0.0.1")) || !IsLocal(netip.MustParseAddr("::ffff:127.0.0.1")) {
		t.Error("127.0.0.1 is not local")
	}
	if IsLocal(netip.MustParseAddr("192.0.2.77")) {
		t.Error("192.0.2.77 (TEST-NET-1) is local")
	}
	if !IsBroadcast(netip.MustParseAddr("255.255.255.255")) || IsBroadcast(netip.MustParseAddr("127.0.0.1")) || IsBroadcast(netip.MustParseAddr("ff02::1")) {
		t.Error("IsBroadcast")
	}
}
