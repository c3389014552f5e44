package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/mdns"
)

// TestParsableAvahiMDNS: discover --mdns -p prints avahi-browse -p -r's
// lines, with the SRV host name (no trailing dot) in the host field.
func TestParsableAvahiMDNS(t *testing.T) {
	in := mdns.Instance{Name: "Living Room; v1.2", Service: "_http._tcp", Host: "vm-1.local.", Port: 8080,
		Addrs:     []netip.Addr{netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("fe80::1%eth0")},
		Text:      []string{"path=/", `say="hi"`},
		Interface: "eth0"}
	var b bytes.Buffer
	b.WriteString(avahiMDNS(in))
	want := `+;eth0;IPv4;Living\032Room\059\032v1\.2;_http._tcp;local
=;eth0;IPv4;Living\032Room\059\032v1\.2;_http._tcp;local;vm-1.local;198.18.0.10;8080;"path=/" "say=\"hi\""
+;eth0;IPv6;Living\032Room\059\032v1\.2;_http._tcp;local
=;eth0;IPv6;Living\032Room\059\032v1\.2;_http._tcp;local;vm-1.local;fe80::1;8080;"path=/" "say=\"hi\""
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestLabDiscoverMDNSOutputs: -q prints nothing, -p prints avahi lines,
// --json reports the record's real TTL or none, never the 10 s cap of
// legacy unicast answers. Real responder, real sockets, namespace LAN.
func TestLabDiscoverMDNSOutputs(t *testing.T) {
	if err := netlab.Available(); err != nil {
		t.Skip("needs a namespace LAN:", err)
	}
	lab, err := netlab.New(t.Context(), netlab.Config{Hosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	var r *mdns.Responder
	if err := lab.Host(1).Do(func() (err error) {
		r, err = mdns.NewResponder(mdns.ResponderConfig{Instance: "kitchen", Port: 9797, Text: []string{"room=kitchen"}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	cli := func(args ...string) (string, int) {
		t.Helper()
		var out, errb bytes.Buffer
		code := -1
		lab.Host(0).Do(func() error {
			code = run(t.Context(), append([]string{"discover", "--mdns", "_udpkit._udp", "-c", "1", "-w", "5s"}, args...), cli.IO{Out: &out, Err: &errb})
			return nil
		})
		if errb.Len() > 0 {
			t.Logf("stderr %v: %s", args, errb.String())
		}
		return out.String(), code
	}
	if out, code := cli("-q"); code != 0 || out != "" {
		t.Errorf("-q: exit %d, output %q; want 0 and nothing", code, out)
	}
	out, code := cli("-p")
	want := fmt.Sprintf("=;eth0;IPv4;kitchen;_udpkit._udp;local;%s.local;%s;9797;\"room=kitchen\"\n", r.Host(), lab.Host(1).IPv4)
	if code != 0 || !strings.HasPrefix(out, "+;eth0;IPv4;kitchen;_udpkit._udp;local\n") || !strings.Contains(out, want) {
		t.Errorf("-p: exit %d, output:\n%s\nwant a '+' line, then:\n%s", code, out, want)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l[0] != '+' && l[0] != '=' {
			t.Errorf("-p: line %q is not avahi-browse -p's", l)
		}
	}
	out, code = cli("--json")
	var j map[string]any
	if err := json.Unmarshal([]byte(out), &j); code != 0 || err != nil {
		t.Fatalf("--json: exit %d, %v: %q", code, err, out)
	}
	if ttl, ok := j["ttl_ms"]; ok && ttl != float64(mdns.HostTTL*1000) {
		t.Errorf("--json: ttl_ms %v; want the SRV record's %d s or none (never the legacy 10 s cap)", ttl, mdns.HostTTL)
	}
	t.Logf("--json: %s", strings.TrimSpace(out))
}
