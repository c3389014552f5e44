package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

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
	printParsable(&b, discovery.Event{Kind: discovery.Up, Instance: in})
	want := `+;eth0;IPv4;Living\032Room\059\032v1\.2;_udpkit._udp;local
+;eth0;IPv6;Living\032Room\059\032v1\.2;_udpkit._udp;local
=;eth0;IPv4;Living\032Room\059\032v1\.2;_udpkit._udp;local;198.18.0.10;198.18.0.10;9797;"room=kitchen" "say=\"hi\""
=;eth0;IPv6;Living\032Room\059\032v1\.2;_udpkit._udp;local;fe80::1;fe80::1;9797;"room=kitchen" "say=\"hi\""
`
	if b.String() != want {
		t.Errorf("up:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	printParsable(&b, discovery.Event{Kind: discovery.Update, Instance: in})
	if !strings.HasPrefix(b.String(), "=;eth0;IPv4;") || strings.Count(b.String(), "\n") != 2 {
		t.Errorf("update:\n%s", b.String())
	}
	b.Reset()
	printParsable(&b, discovery.Event{Kind: discovery.Down, Instance: in, Reason: "goodbye"})
	if b.String() != "-;eth0;IPv4;Living\\032Room\\059\\032v1\\.2;_udpkit._udp;local\n-;eth0;IPv6;Living\\032Room\\059\\032v1\\.2;_udpkit._udp;local\n" {
		t.Errorf("down:\n%s", b.String())
	}
}
