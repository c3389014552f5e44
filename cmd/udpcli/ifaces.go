package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/netif"
)

func setupIfaces(fs *pflag.FlagSet) func(context.Context, cli.IO, []string) error {
	asJSON := cliflag.JSON(fs)
	var specs []string
	cliflag.Interfaces(fs, &specs) // -I SPEC, as in discover, mcast and udpserver
	return func(ctx context.Context, io cli.IO, args []string) error {
		args = append(specs, args...)
		sel, err := netif.Select(args...)
		switch {
		case *asJSON:
			json.NewEncoder(io.Out).Encode(selectionJSON(sel)) // a failed write: Run reports it
		case len(sel.Interfaces)+len(sel.Skipped) > 0:
			if werr := ifaceTable(io.Out, sel); werr != nil {
				return werr
			}
		}
		if err != nil {
			// A SPEC that selects nothing, or is not a SPEC,
			// is bad input (exit 2), as in discover and mcast;
			// an empty default selection is a fact (exit 1).
			if len(args) == 0 && errors.Is(err, netif.ErrNoMatch) {
				return cli.Failed(err)
			}
			return cli.Usagef("%v", err)
		}
		return nil
	}
}

// selectionJSON is "ifaces --json": the command's format (netif's types
// carry no encoding). Flags are names ("up", "broadcast", ...),
// can_broadcast and can_multicast are derived, an IPv4 address is a
// "prefix" ("addr" is host:port in every --json), and empty lists are [],
// never null.
func selectionJSON(s netif.Selection) object {
	ifaces, skipped := []object{}, []object{}
	for _, i := range s.Interfaces {
		flags, v4 := []string{}, []object{}
		if i.Flags != 0 {
			flags = strings.Split(i.Flags.String(), "|")
		}
		for _, a := range i.IPv4 {
			v4 = append(v4, object{"prefix", a.Addr, "broadcast", omit(a.Broadcast)})
		}
		ifaces = append(ifaces, object{"name", i.Name, "index", i.Index, "mtu", i.MTU, "flags", flags, "can_broadcast", i.CanBroadcast(),
			"can_multicast", i.CanMulticast(), "ipv4", v4, "ipv6_link_local", omit(i.IPv6LinkLocal), "ipv6", append([]netip.Prefix{}, i.IPv6...)})
	}
	for _, k := range s.Skipped {
		skipped = append(skipped, object{"name", k.Name, "reason", k.Reason})
	}
	return object{"interfaces", ifaces, "skipped", skipped}
}

// ifaceTable writes s as udpcli ifaces prints it (the --json form is
// selectionJSON): a block per selected interface, one address a line, then
// the skipped interfaces and why.
//
//	NAME  INDEX  MTU   FLAGS                           IPV4            BROADCAST     IPV6
//	eth0  2      1500  up|broadcast|multicast|running  198.18.0.10/24  198.18.0.255  fe80::1%eth0
//	                                                                                 fd18::10/64
//
//	SKIPPED  REASON
//	lo       loopback
func ifaceTable(w io.Writer, s netif.Selection) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tINDEX\tMTU\tFLAGS\tIPV4\tBROADCAST\tIPV6")
	if len(s.Interfaces) == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	for _, ifi := range s.Interfaces {
		flags := ifi.Flags.String()
		if flags == "0" {
			flags = "-"
		}
		// One address a line: the first line has every column ("-" for
		// none), the next ones only the addresses that did not fit.
		rows := [][]string{{ifi.Name, strconv.Itoa(ifi.Index), strconv.Itoa(ifi.MTU), flags, "-", "-", "-"}}
		set := func(r, col int, v string) {
			for len(rows) <= r {
				rows = append(rows, make([]string, 7))
			}
			rows[r][col] = v
		}
		for r, a := range ifi.IPv4 {
			bcast := "-"
			if a.Broadcast.IsValid() {
				bcast = a.Broadcast.String()
			}
			set(r, 4, a.Addr.String())
			set(r, 5, bcast)
		}
		r := 0 // the link-local address first
		if ifi.IPv6LinkLocal.IsValid() {
			set(r, 6, ifi.IPv6LinkLocal.String())
			r++
		}
		for i, p := range ifi.IPv6 {
			set(r+i, 6, p.String())
		}
		for _, row := range rows {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
	}
	tw.Flush() // cannot fail: buf does not
	if len(s.Skipped) > 0 {
		tw = tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nSKIPPED\tREASON")
		for _, sk := range s.Skipped {
			fmt.Fprintf(tw, "%s\t%s\n", sk.Name, sk.Reason)
		}
		tw.Flush()
	}
	// Blank cells at the end of a row leave padding behind: trim it.
	var out bytes.Buffer
	for line := range bytes.Lines(buf.Bytes()) {
		out.Write(bytes.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	if _, err := w.Write(out.Bytes()); err != nil {
		return fmt.Errorf("writing interface table: %w", err)
	}
	return nil
}
