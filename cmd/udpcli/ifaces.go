package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/netif"
)

// ifaceFlag registers -I/--iface, the interface selection that discover,
// watch and mcast share with udpserver: repeatable, and not split at commas
// (templates contain them).
func ifaceFlag(fs *pflag.FlagSet, p *[]string) {
	fs.StringArrayVarP(p, "iface", "I", nil, "interface to use: `name`, address, CIDR or go-sockaddr template (repeatable; default: every interface that is up, not loopback, and can broadcast or multicast; 'udpcli ifaces SPEC' shows what a SPEC selects)")
}

func init() {
	register(&command{
		name:    "ifaces",
		summary: "show which interfaces a selection (-I) picks, and why others are skipped",
		usage: `Usage: udpcli ifaces [flags] [-I SPEC]... [SPEC...]

Prints the interfaces that discovery and multicast commands would use, with
their index, flags, IPv4 addresses and directed broadcast addresses, and IPv6
addresses, followed by the interfaces that were skipped and why.

Each SPEC is an interface name (eth0), a CIDR (192.168.1.0/24: interfaces with
an address inside it), an address, or a go-sockaddr template. Without SPEC the
default selection is shown: every interface that is up, is not loopback, has
an address and can broadcast or multicast. SPECs are what -I takes in
'udpcli discover', 'udpcli mcast' and 'udpserver'.

Examples:
  udpcli ifaces
  udpcli ifaces eth0 wlan0
  udpcli ifaces -I eth0                       # the same -I as the other commands
  udpcli ifaces 10.0.0.0/8
  udpcli ifaces '{{ GetPrivateInterfaces | include "flags" "broadcast" }}'
  udpcli ifaces --json | jq '.interfaces[].name'

Exit status: 0 when at least one interface is selected; 1 when the
default selection is empty; 2 when a SPEC is invalid or selects nothing.`,
		setup: func(fs *pflag.FlagSet) func(context.Context, stdio, []string) error {
			asJSON := fs.Bool("json", false, "write the selection as one JSON object")
			var specs []string
			ifaceFlag(fs, &specs) // -I SPEC, as in discover, mcast and udpserver
			return func(ctx context.Context, io stdio, args []string) error {
				args = append(specs, args...)
				sel, err := netif.Select(args...)
				if *asJSON {
					enc := json.NewEncoder(io.out)
					if encErr := enc.Encode(sel); encErr != nil {
						return encErr
					}
				} else if len(sel.Interfaces)+len(sel.Skipped) > 0 {
					if fmtErr := netif.FormatTable(io.out, sel); fmtErr != nil {
						return fmtErr
					}
				}
				if err != nil {
					// A SPEC that selects nothing, or is not a SPEC,
					// is bad input (exit 2), as in discover and mcast;
					// an empty default selection is a fact (exit 1).
					if len(args) == 0 && errors.Is(err, netif.ErrNoMatch) {
						return failed(err)
					}
					return usagef("%v", err)
				}
				return nil
			}
		},
	})
}
