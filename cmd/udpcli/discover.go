package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/mdns"
	"github.com/udpkit/udpkit/wire"
)

// instanceObject is in as a line of discover --json (the instance of watch
// --json): after is found_after_ms (omitted{} for none) and ttl ttl_ms,
// in milliseconds as every duration in --json; others are the other
// sources answering with the name.
func instanceObject(in discovery.Instance, after, ttl any) object {
	return object{"instance", in.Instance, "service", in.Service, "addrs", addrStrings(in.Addrs), "interface", in.Interface,
		"found_after_ms", after, "ttl_ms", ttl, "attrs", attrMap(in.Attrs), "truncated", omit(in.Truncated),
		"conflict", omit(in.Conflict), "others", omit(addrStrings(in.Others))}
}

// attrMap turns attributes into a JSON object: "key=value" becomes a
// string, a bare "key" true.
func attrMap(attrs []string) map[string]any {
	m := make(map[string]any, len(attrs))
	for _, a := range attrs {
		if k, v, ok := wire.SplitAttr(a); ok {
			m[k] = v
		} else {
			m[k] = true
		}
	}
	return m
}

func setupDiscover(fs *pflag.FlagSet) func(ctx context.Context, io cli.IO, args []string) error {
	timeout := cliflag.Seconds(fs, "deadline", "w", time.Second, "stop after this many seconds (0.3) or this long (300ms), as ping's -w")
	count := cliflag.Count(fs, "count", "c", 0, 0, "stop after N instances (0: run until the deadline)")
	var ifaces []string
	cliflag.Interfaces(fs, &ifaces)
	asJSON := cliflag.JSON(fs)
	loadKeys := cliflag.KeyFile(fs)
	quiet := fs.BoolP("quiet", "q", false, "print nothing: the exit status says whether a server was found")
	parsable := fs.BoolP("parsable", "p", false, "print the lines of avahi-browse -p -r ('+' found, '=' resolved; see 'udpcli watch --help'); with the default -w 1 it stops after the first full round of queries, as avahi-browse -p -r -t")
	// The spellings of earlier releases, for scripts.
	cliflag.Alias(fs, "deadline", "t")
	cliflag.AliasName(fs, "deadline", "timeout")
	cliflag.Alias(fs, "count", "n")
	useMDNS := fs.Bool("mdns", false, "browse mDNS / DNS-SD (any service type; without SERVICE every type present) instead of udpkit discovery")
	querySize := fs.Int("query-size", discovery.DefaultQuerySize, fmt.Sprintf("pad queries to this many bytes, %d to %d (servers never answer with more bytes than the query)", discovery.MinQuerySize, wire.DefaultMaxDatagram))
	return func(ctx context.Context, io cli.IO, args []string) error {
		if len(args) > 1 {
			return cli.Usagef("at most one SERVICE, got %d arguments", len(args))
		}
		service := ""
		if len(args) == 1 {
			service = strings.TrimSuffix(strings.TrimSuffix(args[0], "."), ".local")
			if err := wire.ValidateService(service); err != nil {
				return cli.Usagef("%v", err)
			}
		}
		switch {
		case *asJSON && *parsable:
			return cli.Usagef("--json and -p exclude each other")
		case *timeout <= 0 || *querySize < 0:
			return cli.Usagef("-w must be positive, --query-size not negative")
		case *useMDNS && fs.Changed("query-size"):
			return cli.Usagef("--query-size is for udpkit discovery, not --mdns")
		case !*useMDNS && *querySize != 0 && (*querySize < discovery.MinQuerySize || *querySize > wire.DefaultMaxDatagram):
			return cli.Usagef("--query-size %d: want %d to %d bytes (servers never answer with more bytes than the query)", *querySize, discovery.MinQuerySize, wire.DefaultMaxDatagram)
		}
		lo := listOptions{deadline: *timeout, count: *count, json: *asJSON, quiet: *quiet, parsable: *parsable}
		if *useMDNS {
			return discoverMDNS(ctx, io, service, ifaces, lo)
		}
		keys, _, err := loadKeys()
		if err != nil {
			return cli.Usagef("%v", err)
		}
		b, err := discovery.NewBrowser(discovery.BrowserConfig{Interfaces: ifaces, QuerySize: *querySize, Keys: keys})
		if err != nil {
			return err
		}
		defer b.Close()
		return listInstances(ctx, io, lo, func(ctx context.Context, found func(listed)) error {
			return b.Browse(ctx, service, func(in discovery.Instance) { found(discovered(in)) })
		})
	}
}

// listOptions are discover's output flags.
type listOptions struct {
	deadline              time.Duration
	count                 int
	json, quiet, parsable bool
}

// listed is an instance that a browse found, in each of discover's forms.
type listed struct {
	in    discovery.Instance // the table row
	json  any                // the --json line
	avahi string             // the -p lines
}

// discovered is an instance found by udpkit discovery.
func discovered(in discovery.Instance) listed {
	return listed{in: in, json: instanceObject(in, foundAfter(in.FoundAfter), msNumber(in.TTL)), avahi: avahiSigns(in, "+=")}
}

// listInstances prints what browse finds, until the deadline or -c
// instances, and says whether enough were found: discover's output and
// exit status, with udpkit discovery or mDNS.
func listInstances(ctx context.Context, io cli.IO, o listOptions, browse func(context.Context, func(listed)) error) error {
	ctx, cancel := context.WithTimeout(ctx, o.deadline)
	defer cancel()
	found := 0
	enc := json.NewEncoder(io.Out)
	if !o.json && !o.quiet && !o.parsable {
		fmt.Fprintln(io.Out, tableHeader)
	}
	// names printed: the other claimants of a contested name (reported
	// with it, each marked) are printed beyond -c and not counted, so
	// that -c 1 does not show a forger alone.
	names := map[string]bool{}
	err := browse(ctx, func(l listed) {
		name := wire.FoldCase(l.in.Service) + "\x00" + wire.FoldCase(l.in.Instance) + "\x00" + l.in.Interface
		again := l.in.Conflict && names[name]
		if o.count > 0 && found >= o.count && !again {
			return
		}
		if !again {
			found++
		}
		names[name] = true
		switch {
		case o.quiet:
		case o.parsable:
			io.Out.Write([]byte(l.avahi))
		case o.json:
			enc.Encode(l.json)
		default:
			fmt.Fprintln(io.Out, instanceRow(l.in))
		}
		if o.count > 0 && found >= o.count {
			cancel()
		}
	})
	switch {
	case err != nil:
		return err
	case found == 0:
		return cli.Failed(errors.New("no instance found"))
	case o.count > 0 && found < o.count:
		return cli.Failed(fmt.Errorf("found %d of %d instances", found, o.count))
	}
	return nil
}

// tableHeader is the header of the table whose rows are instanceRow.
var tableHeader = fmt.Sprintf(rowFormat, "INSTANCE", "SERVICE", "ADDRESS", "INTERFACE", "TIME", "ATTRIBUTES")

const rowFormat = "%-24s %-16s %-26s %-10s %9s  %s"

// instanceRow is in as a line of the table: name, service, the first
// address, interface, FoundAfter, then the attributes (quoted when they
// hold blanks, quotes or control characters), the other addresses and any
// conflict.
func instanceRow(in discovery.Instance) string {
	addr := ""
	if len(in.Addrs) > 0 {
		addr = in.Addrs[0].String()
	}
	attrs := make([]string, len(in.Attrs))
	for i, a := range in.Attrs {
		if strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r == 0x7f }) {
			a = fmt.Sprintf("%q", a)
		}
		attrs[i] = a
	}
	rest := strings.Join(attrs, " ")
	if in.Truncated {
		rest += " (truncated)"
	}
	if len(in.Addrs) > 1 {
		rest += "  also " + joinAddrs(in.Addrs[1:], " ")
	}
	if in.Conflict {
		rest += "  (conflict: " + joinAddrs(in.Others, ", ") + ")"
	}
	return fmt.Sprintf(rowFormat, in.Instance, in.Service, addr, in.Interface, msColumn(in.FoundAfter), strings.TrimSpace(rest))
}

// msColumn is the table's TIME: milliseconds with the unit, the precision
// shrinking as the value grows ("3.14ms", "31.4ms", "314ms").
func msColumn(d time.Duration) string {
	ms := float64(d.Microseconds()) / 1000
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}

func joinAddrs(as []netip.AddrPort, sep string) string { return strings.Join(addrStrings(as), sep) }

// addrStrings is as in text, [] (not null) when empty.
func addrStrings(as []netip.AddrPort) []string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return s
}

// foundAfter is found_after_ms: milliseconds, to microseconds.
func foundAfter(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

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
