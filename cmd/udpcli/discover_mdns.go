package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/mdns"
)

// discoverMDNS is discover --mdns: the same output and exit statuses as
// udpkit discovery, from an mDNS browser.
func discoverMDNS(ctx context.Context, io stdio, service string, ifaces []string, timeout time.Duration, count int, asJSON bool) error {
	b, err := mdns.NewBrowser(mdns.BrowserConfig{Interfaces: ifaces})
	if err != nil {
		return err
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	found := 0
	enc := json.NewEncoder(io.out)
	if !asJSON {
		fmt.Fprintf(io.out, "%-24s %-16s %-26s %-10s %9s  %s\n", "INSTANCE", "SERVICE", "ADDRESS", "INTERFACE", "TIME", "ATTRIBUTES")
	}
	err = b.Browse(ctx, service, func(in mdns.Instance) {
		if count > 0 && found >= count {
			return
		}
		found++
		d := fromMDNS(in)
		if asJSON {
			j := toJSON(d)
			ms := float64(in.FoundAfter.Microseconds()) / 1000
			j.FoundAfter = &ms
			j.Host = in.Host
			enc.Encode(j)
		} else {
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
