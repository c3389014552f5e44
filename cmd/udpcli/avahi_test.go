package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/discovery"
)

// TestParsableAvahi: watch -p and discover -p print avahi-browse -p -r's
// lines: its field order, '+' found, '=' resolved, '-' gone, its name
// escapes.
func TestParsableAvahi(t *testing.T) {
	in := discovery.Instance{Service: "_udpkit._udp", Instance: "Living Room; v1.2", Interface: "eth0",
		Addrs: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.10:9797"), netip.MustParseAddrPort("[fe80::1%eth0]:9797")},
		Attrs: []string{"room=kitchen", `say="hi"`}}
	var b bytes.Buffer
	b.WriteString(avahiEvent(discovery.Event{Kind: discovery.Up, Instance: in}))
	want := `+;eth0;IPv4;Living\032Room\059\032v1\.2;_udpkit._udp;local
+;eth0;IPv6;Living\032Room\059\032v1\.2;_udpkit._udp;local
=;eth0;IPv4;Living\032Room\059\032v1\.2;_udpkit._udp;local;198.18.0.10;198.18.0.10;9797;"room=kitchen" "say=\"hi\""
=;eth0;IPv6;Living\032Room\059\032v1\.2;_udpkit._udp;local;fe80::1;fe80::1;9797;"room=kitchen" "say=\"hi\""
`
	if b.String() != want {
		t.Errorf("up:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	b.WriteString(avahiEvent(discovery.Event{Kind: discovery.Update, Instance: in}))
	if !strings.HasPrefix(b.String(), "=;eth0;IPv4;") || strings.Count(b.String(), "\n") != 2 {
		t.Errorf("update:\n%s", b.String())
	}
	b.Reset()
	b.WriteString(avahiEvent(discovery.Event{Kind: discovery.Down, Instance: in, Reason: "goodbye"}))
	if b.String() != "-;eth0;IPv4;Living\\032Room\\059\\032v1\\.2;_udpkit._udp;local\n-;eth0;IPv6;Living\\032Room\\059\\032v1\\.2;_udpkit._udp;local\n" {
		t.Errorf("down:\n%s", b.String())
	}
}

// TestDiscoverRow: the table row of udpcli discover and the line of udpcli watch.
func TestDiscoverRow(t *testing.T) {
	in := discovery.Instance{Service: "_udpkit._udp", Instance: "kitchen", Interface: "eth0", FoundAfter: 3140 * time.Microsecond,
		Addrs:    []netip.AddrPort{netip.MustParseAddrPort("198.18.0.10:9797"), netip.MustParseAddrPort("[fd18::10]:9797")},
		Attrs:    []string{"room=kitchen", "say hi", "bell\x07"},
		Conflict: true, Others: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.66:9797")}, Truncated: true}
	want := `kitchen                  _udpkit._udp     198.18.0.10:9797           eth0          3.14ms  room=kitchen "say hi" "bell\a" (truncated)  also [fd18::10]:9797  (conflict: 198.18.0.66:9797)`
	if got := instanceRow(in); got != want {
		t.Errorf("instanceRow:\n%q\nwant\n%q", got, want)
	}
	if !strings.HasPrefix(tableHeader, "INSTANCE                 SERVICE          ADDRESS") {
		t.Errorf("tableHeader = %q", tableHeader)
	}
	e := discovery.Event{Kind: discovery.Down, Reason: "goodbye", Instance: in, Time: time.Date(2026, 1, 2, 15, 4, 5, 6e6, time.UTC)}
	if got, want := watchLine(e), "15:04:05.006 down   kitchen                  _udpkit._udp     eth0       198.18.0.10:9797,[fd18::10]:9797 (goodbye)  (conflict: 198.18.0.66:9797)"; got != want {
		t.Errorf("watchLine:\n%q\nwant\n%q", got, want)
	}
	in.Conflict, in.Others = false, nil
	e = discovery.Event{Kind: discovery.Up, Reason: "announce", Instance: in, Time: time.Date(2026, 1, 2, 15, 4, 5, 6e6, time.UTC)}
	if got, want := watchLine(e), "15:04:05.006 up     kitchen                  _udpkit._udp     eth0       198.18.0.10:9797,[fd18::10]:9797 (announce)"; got != want {
		t.Errorf("watchLine without conflict:\n%q\nwant\n%q", got, want)
	}
}
