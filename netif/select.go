package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// ErrNoMatch is returned (wrapped) by Select when a spec, or the default
// selection, picks no usable interface. The message names the spec and
// lists the interfaces that exist.
var ErrNoMatch = errors.New("no interface matches")

// ErrNoDefaultRoute is returned (wrapped) by Select when a template calls a
// go-sockaddr function that needs the default route (GetDefaultInterfaces)
// and the machine has none, or `ip route` cannot be run to find it.
var ErrNoDefaultRoute = errors.New("no default route")

// Select picks network interfaces.
//
// Each spec is one of:
//
//   - an interface name: "eth0";
//   - an IP address: "198.18.0.10" picks the interface that has it;
//   - a CIDR prefix: "198.18.0.0/24" picks every interface with an address
//     inside it;
//   - a go-sockaddr template, recognised by "{{": for example
//     `{{ GetAllInterfaces | include "flags" "broadcast" }}`. The template is
//     run with github.com/hashicorp/go-sockaddr/template's functions; every
//     IP address (or interface name) in its output selects the interface it
//     belongs to, whole.
//
// The result is the union of what the specs pick, sorted by interface index.
// An interface picked by a spec is used even if it is a loopback or cannot
// broadcast or multicast (naming "lo" is allowed), but not if it is down or
// has no address. A spec that picks no usable interface is an error wrapping
// ErrNoMatch that names the spec. Specs are not split on commas: templates
// contain commas; callers split lists themselves.
//
// With no specs Select picks every interface that is up, is not a loopback,
// has an address and can broadcast or multicast. If none qualifies it
// returns an error wrapping ErrNoMatch together with a Selection whose
// Skipped field says why each interface was left out.
//
// Select never relies on the default route except for templates that ask
// for it (GetDefaultInterfaces); those fail with an error wrapping
// ErrNoDefaultRoute when there is none.
func Select(specs ...string) (Selection, error) {
	return selectFrom(system, specs)
}

func selectFrom(src source, specs []string) (Selection, error) {
	entries, err := load(src)
	if err != nil {
		return Selection{}, err
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return a.iface.Index - b.iface.Index })

	chosen := make([]bool, len(entries))
	reasons := make([]string, len(entries))
	if len(specs) == 0 {
		n := 0
		for k, e := range entries {
			if r := defaultReason(e.iface); r != "" {
				reasons[k] = r
				continue
			}
			chosen[k] = true
			n++
		}
		sel := assemble(entries, chosen, reasons)
		if n == 0 {
			return sel, fmt.Errorf("%w the default selection (up, not loopback, with an address, broadcast or multicast); skipped: %s",
				ErrNoMatch, skippedList(sel.Skipped))
		}
		return sel, nil
	}

	for _, spec := range specs {
		matched, err := match(src, entries, spec)
		if err != nil {
			return Selection{}, err
		}
		if len(matched) == 0 {
			return Selection{}, fmt.Errorf("%w %q; available: %s", ErrNoMatch, spec, available(entries))
		}
		var unusable []Skipped
		for _, k := range matched {
			if r := explicitReason(entries[k].iface); r != "" {
				if !chosen[k] {
					reasons[k] = r
				}
				unusable = append(unusable, Skipped{Name: entries[k].iface.Name, Reason: r})
				continue
			}
			chosen[k] = true
			reasons[k] = ""
		}
		if len(unusable) == len(matched) {
			return Selection{}, fmt.Errorf("%w %q with a usable interface (%s); available: %s",
				ErrNoMatch, spec, skippedList(unusable), available(entries))
		}
	}
	return assemble(entries, chosen, reasons), nil
}

// assemble builds the Selection; interfaces neither chosen nor given a
// reason are "not matched".
func assemble(entries []entry, chosen []bool, reasons []string) Selection {
	var sel Selection
	for k, e := range entries {
		switch {
		case chosen[k]:
			sel.Interfaces = append(sel.Interfaces, e.iface)
		case reasons[k] != "":
			sel.Skipped = append(sel.Skipped, Skipped{Name: e.iface.Name, Reason: reasons[k]})
		default:
			sel.Skipped = append(sel.Skipped, Skipped{Name: e.iface.Name, Reason: ReasonNotMatched})
		}
	}
	return sel
}

// defaultReason says why the default selection leaves ifi out, or "".
func defaultReason(ifi Interface) string {
	switch {
	case ifi.Flags&net.FlagUp == 0:
		return ReasonDown
	case ifi.Flags&net.FlagLoopback != 0:
		return ReasonLoopback
	case !ifi.HasAddr():
		return ReasonNoAddress
	case !ifi.CanBroadcast() && !ifi.CanMulticast():
		return ReasonNoBcastMcast
	}
	return ""
}

// explicitReason says why an interface a spec picked cannot be used, or "".
func explicitReason(ifi Interface) string {
	switch {
	case ifi.Flags&net.FlagUp == 0:
		return ReasonDown
	case !ifi.HasAddr():
		return ReasonNoAddress
	}
	return ""
}

// match returns the indexes of the entries spec picks.
func match(src source, entries []entry, spec string) ([]int, error) {
	s := strings.TrimSpace(spec)
	switch {
	case s == "":
		return nil, fmt.Errorf("empty interface spec %q", spec)
	case strings.Contains(s, "{{"):
		return matchTemplate(src, entries, s)
	}
	var out []int
	if p, err := netip.ParsePrefix(s); err == nil {
		p = p.Masked()
		for k, e := range entries {
			for _, a := range e.iface.Addrs() {
				if p.Contains(a.WithZone("")) {
					out = append(out, k)
					break
				}
			}
		}
		return out, nil
	}
	if strings.Contains(s, "/") {
		// Interface names never hold a slash: this was meant as a CIDR.
		return nil, fmt.Errorf("invalid CIDR %q: want an address and a prefix length, such as 192.168.1.0/24 or fd00::/64", s)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		zone := a.Zone()
		for k, e := range entries {
			if zone != "" && zone != e.iface.Name && zone != fmt.Sprint(e.iface.Index) {
				continue
			}
			if e.iface.Has(a) {
				out = append(out, k)
			}
		}
		return out, nil
	}
	for k, e := range entries {
		if e.iface.Name == s {
			out = append(out, k)
		}
	}
	return out, nil
}

// available lists the names of all interfaces for error messages.
func available(entries []entry) string {
	if len(entries) == 0 {
		return "none"
	}
	names := make([]string, len(entries))
	for k, e := range entries {
		names[k] = e.iface.Name
	}
	return strings.Join(names, ", ")
}

// skippedList formats skipped interfaces as "lo: loopback, eth1: down".
func skippedList(s []Skipped) string {
	if len(s) == 0 {
		return "no interfaces"
	}
	parts := make([]string, len(s))
	for k, sk := range s {
		parts[k] = sk.Name + ": " + sk.Reason
	}
	return strings.Join(parts, ", ")
}
