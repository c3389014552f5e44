package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"

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
					if encErr := enc.Encode(selectionJSON(sel)); encErr != nil {
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

// The JSON of "ifaces --json": the command's format (netif's types carry no
// encoding). Flags are names ("up", "broadcast", ...), can_broadcast and
// can_multicast are derived, and empty lists are [], never null.
type (
	ifSelJSON struct {
		Interfaces []ifaceJSON `json:"interfaces"`
		Skipped    []skipJSON  `json:"skipped"`
	}
	ifaceJSON struct {
		Name          string         `json:"name"`
		Index         int            `json:"index"`
		MTU           int            `json:"mtu"`
		Flags         []string       `json:"flags"`
		CanBroadcast  bool           `json:"can_broadcast"`
		CanMulticast  bool           `json:"can_multicast"`
		IPv4          []ipv4JSON     `json:"ipv4"`
		IPv6LinkLocal netip.Addr     `json:"ipv6_link_local,omitzero"`
		IPv6          []netip.Prefix `json:"ipv6"`
	}
	ipv4JSON struct {
		Addr      netip.Prefix `json:"addr"`
		Broadcast netip.Addr   `json:"broadcast,omitzero"`
	}
	skipJSON struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
	}
)

func selectionJSON(s netif.Selection) ifSelJSON {
	j := ifSelJSON{Interfaces: []ifaceJSON{}, Skipped: []skipJSON{}}
	for _, i := range s.Interfaces {
		ij := ifaceJSON{Name: i.Name, Index: i.Index, MTU: i.MTU, Flags: []string{}, CanBroadcast: i.CanBroadcast(),
			CanMulticast: i.CanMulticast(), IPv4: []ipv4JSON{}, IPv6LinkLocal: i.IPv6LinkLocal, IPv6: []netip.Prefix{}}
		if i.Flags != 0 {
			ij.Flags = strings.Split(i.Flags.String(), "|")
		}
		for _, a := range i.IPv4 {
			ij.IPv4 = append(ij.IPv4, ipv4JSON(a))
		}
		ij.IPv6 = append(ij.IPv6, i.IPv6...)
		j.Interfaces = append(j.Interfaces, ij)
	}
	for _, k := range s.Skipped {
		j.Skipped = append(j.Skipped, skipJSON(k))
	}
	return j
}
