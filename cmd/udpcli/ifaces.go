package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/netif"
)

// ifaceFlag registers -I/--iface, the interface selection that discover,
// watch and mcast share with udpserver: repeatable, and not split at commas
// (templates contain them).
func ifaceFlag(fs *pflag.FlagSet, p *[]string) {
	fs.StringArrayVarP(p, "iface", "I", nil, "interface to use: `name`, address, CIDR or go-sockaddr template (repeatable; default: every interface that is up, not loopback, and can broadcast or multicast; 'udpcli ifaces SPEC' shows what a SPEC selects)")
}

func init() {
	app.Register(&cli.Command{
		Name:    "ifaces",
		Summary: "show which interfaces a selection (-I) picks, and why others are skipped",
		Usage:   helpText("ifaces"),
		Setup: func(fs *pflag.FlagSet) func(context.Context, cli.IO, []string) error {
			asJSON := fs.Bool("json", false, "write the selection as one JSON object")
			var specs []string
			ifaceFlag(fs, &specs) // -I SPEC, as in discover, mcast and udpserver
			return func(ctx context.Context, io cli.IO, args []string) error {
				args = append(specs, args...)
				sel, err := netif.Select(args...)
				if *asJSON {
					enc := json.NewEncoder(io.Out)
					if encErr := enc.Encode(selectionJSON(sel)); encErr != nil {
						return encErr
					}
				} else if len(sel.Interfaces)+len(sel.Skipped) > 0 {
					if fmtErr := sel.WriteTable(io.Out); fmtErr != nil {
						return fmtErr
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
		Addr      netip.Prefix `json:"prefix"` // "addr" is host:port in every --json
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
