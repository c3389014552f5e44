package main

import (
	"context"
	"strings"

	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/mdns"
)

// discoverMDNS is discover --mdns: the same output and exit statuses as
// udpkit discovery, from an mDNS browser.
func discoverMDNS(ctx context.Context, io cli.IO, service string, ifaces []string, o listOptions) error {
	b, err := mdns.NewBrowser(mdns.BrowserConfig{Interfaces: ifaces})
	if err != nil {
		return err
	}
	defer b.Close()
	return listInstances(ctx, io, o, func(ctx context.Context, found func(listed)) error {
		return b.Browse(ctx, service, func(in mdns.Instance) { found(mdnsListed(in)) })
	})
}

// mdnsListed is an instance found by mDNS, with its host and avahi's lines.
func mdnsListed(in mdns.Instance) listed {
	return listed{in: fromMDNS(in), json: mdnsObject(in), avahi: avahiMDNS(in)}
}

// fromMDNS shows an mDNS instance as a discovery one: addresses with the
// SRV port, TXT strings as attributes.
func fromMDNS(in mdns.Instance) discovery.Instance {
	return discovery.Instance{Instance: in.Name, Service: in.Service, Interface: in.Interface, Addrs: in.AddrPorts(),
		FoundAfter: in.FoundAfter, TTL: in.TTL, Attrs: in.Text}
}

// avahiMDNS is an instance as avahi-browse -p -r prints it: a '+' line,
// then a '=' line per address with host name, address, port and TXT, for
// each of IPv4 and IPv6 (avahi-browse -r's order for a resolved name).
func avahiMDNS(in mdns.Instance) string {
	d, host := fromMDNS(in), strings.TrimSuffix(in.Host, ".")
	var b []byte
	for _, v6 := range []bool{false, true} {
		b = appendAvahi(b, '+', v6, d, host)
		b = appendAvahi(b, '=', v6, d, host)
	}
	return string(b)
}

// mdnsObject is a line of discover --mdns --json: discover's fields, then
// host and ttl_ms, the SRV record's TTL as multicast by the responder,
// absent when only a legacy unicast answer was heard (its TTL is capped at
// 10 s, RFC 6762 section 6.7, and says nothing of the record's lifetime).
func mdnsObject(in mdns.Instance) object {
	ttl := any(omitted{})
	if in.TTL > 0 {
		ttl = msNumber(in.TTL)
	}
	return append(instanceObject(fromMDNS(in), foundAfter(in.FoundAfter), omitted{}), "host", omit(in.Host), "ttl_ms", ttl)
}
