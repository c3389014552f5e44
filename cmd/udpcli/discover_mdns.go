package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/mdns"
)

// discoverMDNS is discover --mdns: the same output and exit statuses as
// udpkit discovery, from an mDNS browser.
func discoverMDNS(ctx context.Context, io stdio, service string, ifaces []string, timeout time.Duration, count int, asJSON, quiet, parsable bool) error {
	b, err := mdns.NewBrowser(mdns.BrowserConfig{Interfaces: ifaces})
	if err != nil {
		return err
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	found := 0
	enc := json.NewEncoder(io.out)
	if !asJSON && !quiet && !parsable {
		fmt.Fprintf(io.out, "%-24s %-16s %-26s %-10s %9s  %s\n", "INSTANCE", "SERVICE", "ADDRESS", "INTERFACE", "TIME", "ATTRIBUTES")
	}
	err = b.Browse(ctx, service, func(in mdns.Instance) {
		if count > 0 && found >= count {
			return
		}
		found++
		d := fromMDNS(in)
		switch {
		case quiet:
		case parsable:
			printAvahiMDNS(io.out, in)
		case asJSON:
			j := mdnsJSON{instanceJSON: toJSON(d)}
			ms := float64(in.FoundAfter.Microseconds()) / 1000
			j.FoundAfter = &ms
			j.Host = in.Host
			if in.TTL > 0 {
				ttl := msNumber(in.TTL)
				j.TTL = &ttl
			}
			enc.Encode(j)
		default:
			printRow(io.out, d)
		}
		if count > 0 && found >= count {
			cancel()
		}
	})
	if err != nil {
		return err
	}
	switch {
	case found == 0:
		return failed(errors.New("no instance found"))
	case count > 0 && found < count:
		return failed(fmt.Errorf("found %d of %d instances", found, count))
	}
	return nil
}

// fromMDNS shows an mDNS instance as a discovery one: addresses with the
// SRV port, TXT strings as attributes.
func fromMDNS(in mdns.Instance) discovery.Instance {
	d := discovery.Instance{Instance: in.Name, Service: in.Service, Interface: in.Interface,
		FoundAfter: in.FoundAfter, TTL: in.TTL, Attrs: in.Text}
	for _, a := range in.Addrs {
		d.Addrs = append(d.Addrs, netip.AddrPortFrom(a, in.Port))
	}
	return d
}

// mdnsJSON is a line of discover --mdns --json: ttl_ms is the SRV
// record's TTL as multicast by the responder, and absent when only a
// legacy unicast answer was heard (its TTL is capped at 10 s, RFC 6762
// section 6.7, and says nothing of the record's lifetime).
type mdnsJSON struct {
	instanceJSON
	TTL *float64 `json:"ttl_ms,omitempty"`
}

// printAvahiMDNS prints an instance as avahi-browse -p -r does: a '+'
// line, then a '=' line per address with host name, address, port and
// TXT, for each of IPv4 and IPv6 (the order and escapes of printAvahi).
func printAvahiMDNS(w io.Writer, in mdns.Instance) {
	name := avahiEscape(in.Name)
	host := strings.TrimSuffix(in.Host, ".")
	txt := make([]string, len(in.Text))
	for i, a := range in.Text {
		txt[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
	}
	for _, proto := range []string{"IPv4", "IPv6"} {
		var addrs []netip.Addr
		for _, a := range in.Addrs {
			if a.Unmap().Is4() == (proto == "IPv4") {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) == 0 {
			continue
		}
		head := fmt.Sprintf(";%s;%s;%s;%s;local", in.Interface, proto, name, in.Service)
		fmt.Fprintln(w, "+"+head)
		for _, a := range addrs {
			fmt.Fprintf(w, "=%s;%s;%s;%d;%s\n", head, host, a.WithZone("").String(), in.Port, strings.Join(txt, " "))
		}
	}
}
