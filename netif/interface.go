package netif

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Interface is a network interface together with the addresses udpkit cares
// about, split by what they are good for.
type Interface struct {
	// Name is the interface name, such as "eth0".
	Name string
	// Index is the kernel's interface index, as used by IP_MULTICAST_IF,
	// IPV6_MULTICAST_IF and IPv6 zones.
	Index int
	// Flags are the interface flags (up, broadcast, loopback, ...).
	Flags net.Flags
	// MTU is the maximum transmission unit in bytes.
	MTU int
	// IPv4 lists the interface's IPv4 addresses in the order the kernel
	// reports them.
	IPv4 []IPv4Addr
	// IPv6LinkLocal is the first IPv6 link-local (fe80::/10) address, with
	// its zone set to Name. It is the zero Addr if the interface has none.
	IPv6LinkLocal netip.Addr
	// IPv6 lists the other IPv6 addresses (global unicast, ULA).
	IPv6 []netip.Prefix
}

// IPv4Addr is one IPv4 address of an interface.
type IPv4Addr struct {
	// Addr is the address and its prefix length, such as 198.18.0.10/24.
	Addr netip.Prefix `json:"prefix"` // "prefix": "addr" is host:port in every --json
	// Broadcast is the directed broadcast address of Addr's subnet, such
	// as 198.18.0.255. It is the zero Addr when the interface cannot
	// broadcast or the prefix has no room for one (/31 and /32).
	Broadcast netip.Addr `json:"broadcast,omitzero"`
}

// CanBroadcast reports whether the interface is up, has the broadcast flag
// and has at least one IPv4 address with a directed broadcast address.
func (i Interface) CanBroadcast() bool {
	if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagBroadcast == 0 {
		return false
	}
	for _, a := range i.IPv4 {
		if a.Broadcast.IsValid() {
			return true
		}
	}
	return false
}

// CanMulticast reports whether the interface is up, has the multicast flag
// and has an address to send multicast from (an IPv4 address or an IPv6
// link-local address).
func (i Interface) CanMulticast() bool {
	if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagMulticast == 0 {
		return false
	}
	return len(i.IPv4) > 0 || i.IPv6LinkLocal.IsValid()
}

// HasAddr reports whether the interface has at least one IP address.
func (i Interface) HasAddr() bool {
	return len(i.IPv4) > 0 || i.IPv6LinkLocal.IsValid() || len(i.IPv6) > 0
}

// Addrs returns every address of the interface without prefix lengths:
// IPv4 first, then the IPv6 link-local address (with its zone), then the
// other IPv6 addresses.
func (i Interface) Addrs() []netip.Addr {
	out := make([]netip.Addr, 0, len(i.IPv4)+1+len(i.IPv6))
	for _, a := range i.IPv4 {
		out = append(out, a.Addr.Addr())
	}
	if i.IPv6LinkLocal.IsValid() {
		out = append(out, i.IPv6LinkLocal)
	}
	for _, p := range i.IPv6 {
		out = append(out, p.Addr())
	}
	return out
}

// Has reports whether a (zone ignored, IPv4-mapped unmapped) is one of the
// interface's addresses.
func (i Interface) Has(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	for _, b := range i.Addrs() {
		if b.WithZone("") == a {
			return true
		}
	}
	return false
}

// OnLink reports whether a is surely a neighbour on the interface's link:
// inside one of its IPv4 subnets, or an IPv6 link-local address.
func (i Interface) OnLink(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is6() {
		return a.IsLinkLocalUnicast()
	}
	for _, v := range i.IPv4 {
		if v.Addr.Contains(a) {
			return true
		}
	}
	return false
}

// interfaceJSON is the JSON form of an Interface.
type interfaceJSON struct {
	Name          string         `json:"name"`
	Index         int            `json:"index"`
	MTU           int            `json:"mtu"`
	Flags         []string       `json:"flags"`
	CanBroadcast  bool           `json:"can_broadcast"`
	CanMulticast  bool           `json:"can_multicast"`
	IPv4          []IPv4Addr     `json:"ipv4"`
	IPv6LinkLocal netip.Addr     `json:"ipv6_link_local,omitzero"`
	IPv6          []netip.Prefix `json:"ipv6"`
}

// MarshalJSON encodes the interface as an object with snake_case keys,
// flags as a list of names ("up", "broadcast", ...), addresses as strings,
// and the derived can_broadcast and can_multicast booleans. Empty address
// lists are encoded as [], never null.
func (i Interface) MarshalJSON() ([]byte, error) {
	j := interfaceJSON{
		Name:          i.Name,
		Index:         i.Index,
		MTU:           i.MTU,
		Flags:         flagNames(i.Flags),
		CanBroadcast:  i.CanBroadcast(),
		CanMulticast:  i.CanMulticast(),
		IPv4:          i.IPv4,
		IPv6LinkLocal: i.IPv6LinkLocal,
		IPv6:          i.IPv6,
	}
	if j.IPv4 == nil {
		j.IPv4 = []IPv4Addr{}
	}
	if j.IPv6 == nil {
		j.IPv6 = []netip.Prefix{}
	}
	return json.Marshal(j)
}

// flagNames splits net.Flags.String into its names.
func flagNames(f net.Flags) []string {
	if f == 0 {
		return []string{}
	}
	return strings.Split(f.String(), "|")
}

// Skipped names an interface that Select did not pick and says why.
type Skipped struct {
	// Name is the interface name.
	Name string `json:"name"`
	// Reason is one of the Reason constants.
	Reason string `json:"reason"`
}

// Reasons an interface is skipped, as found in Skipped.Reason.
const (
	ReasonDown         = "down"
	ReasonLoopback     = "loopback"
	ReasonNoAddress    = "no address"
	ReasonNoBcastMcast = "cannot broadcast or multicast"
	ReasonNotMatched   = "not matched"
)

// Selection is the result of Select: the interfaces picked, in kernel index
// order, and every other interface with the reason it was left out.
type Selection struct {
	// Interfaces are the selected interfaces, sorted by Index.
	Interfaces []Interface `json:"interfaces"`
	// Skipped are the interfaces not selected, sorted by index.
	Skipped []Skipped `json:"skipped"`
}

// Names returns the names of the selected interfaces.
func (s Selection) Names() []string {
	out := make([]string, len(s.Interfaces))
	for k, ifi := range s.Interfaces {
		out[k] = ifi.Name
	}
	return out
}

// Lookup returns the selected interface called name.
func (s Selection) Lookup(name string) (Interface, bool) {
	for _, ifi := range s.Interfaces {
		if ifi.Name == name {
			return ifi, true
		}
	}
	return Interface{}, false
}

// Multicast returns the selected interfaces that can multicast.
func (s Selection) Multicast() []Interface {
	var out []Interface
	for _, ifi := range s.Interfaces {
		if ifi.CanMulticast() {
			out = append(out, ifi)
		}
	}
	return out
}

// Broadcast returns the selected interfaces that can broadcast.
func (s Selection) Broadcast() []Interface {
	var out []Interface
	for _, ifi := range s.Interfaces {
		if ifi.CanBroadcast() {
			out = append(out, ifi)
		}
	}
	return out
}

// MarshalJSON encodes the selection as {"interfaces": [...], "skipped":
// [...]}, with empty lists as [] rather than null.
func (s Selection) MarshalJSON() ([]byte, error) {
	type plain Selection // no MarshalJSON method: avoids recursion
	p := plain(s)
	if p.Interfaces == nil {
		p.Interfaces = []Interface{}
	}
	if p.Skipped == nil {
		p.Skipped = []Skipped{}
	}
	return json.Marshal(p)
}

// ErrNoFamily is returned (wrapped) by SelectGroup when no selected
// interface has an address of the group's family.
var ErrNoFamily = errors.New("no selected interface can carry")

// ReasonNoFamily is the Skipped.Reason of an interface SelectGroup left out
// because it has no address of the group's family.
const ReasonNoFamily = "no address of the group's family"

// SelectGroup is the one interface policy of multicast groups: it resolves
// specs as Select does (with no specs and a zoned group, the zone is the
// spec; with none at all, Select's default narrowed to the interfaces that
// can multicast) and keeps the interfaces with an address of the group's
// family: an IPv4 address for an IPv4 group; for an IPv6 group an IPv6
// link-local address, or, for an interface a spec named, any IPv6 address
// or the loopback flag. The others are returned as skipped. It fails with
// an error wrapping ErrNoFamily when no interface is left (or Select's
// error).
func SelectGroup(specs []string, group netip.Addr) ([]Interface, []Skipped, error) {
	if group.Zone() != "" && len(specs) == 0 {
		specs = []string{group.Zone()}
	}
	sel, err := Select(specs...)
	if err != nil {
		return nil, nil, err
	}
	list := sel.Interfaces
	if len(specs) == 0 {
		list = sel.Multicast()
	}
	var out []Interface
	var skipped []Skipped
	for _, ifi := range list {
		ok := len(ifi.IPv4) > 0
		if group.Is6() {
			ok = ifi.IPv6LinkLocal.IsValid() || len(specs) > 0 && (len(ifi.IPv6) > 0 || ifi.Flags&net.FlagLoopback != 0)
		}
		if !ok {
			skipped = append(skipped, Skipped{Name: ifi.Name, Reason: ReasonNoFamily})
			continue
		}
		out = append(out, ifi)
	}
	if len(out) == 0 {
		return nil, skipped, fmt.Errorf("%w %v", ErrNoFamily, group.WithZone(""))
	}
	return out, skipped, nil
}

// SourceFor returns the source address the system uses to send to group
// out of the interface: IPv4, its first address; IPv6, its link-local
// address (zoned) for a link-local or interface-local group, else its
// first global or ULA address, else the link-local one. Invalid if it has
// none.
func (i Interface) SourceFor(group netip.Addr) netip.Addr {
	if group.Is4() {
		if len(i.IPv4) > 0 {
			return i.IPv4[0].Addr.Addr()
		}
		return netip.Addr{}
	}
	ll, global := i.IPv6LinkLocal, netip.Addr{}
	for _, p := range i.IPv6 {
		if !p.Addr().IsLoopback() {
			global = p.Addr()
			break
		}
	}
	if group.IsLinkLocalMulticast() || group.IsInterfaceLocalMulticast() || !global.IsValid() {
		if ll.IsValid() {
			return ll
		}
	}
	return global
}
