package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
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
	Addr netip.Prefix
	// Broadcast is the directed broadcast address of Addr's subnet, such
	// as 198.18.0.255. It is the zero Addr when the interface cannot
	// broadcast or the prefix has no room for one (/31 and /32).
	Broadcast netip.Addr
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

// Skipped names an interface that Select did not pick and says why.
type Skipped struct {
	// Name is the interface name.
	Name string
	// Reason is one of the Reason constants.
	Reason string
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
	Interfaces []Interface
	// Skipped are the interfaces not selected, sorted by index.
	Skipped []Skipped
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

// IsBroadcast reports whether a is the limited broadcast address
// 255.255.255.255 or the directed broadcast address of one of this host's
// IPv4 subnets (point-to-point /31 and /32 have none).
func IsBroadcast(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	if a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	addrs, _ := net.InterfaceAddrs()
	for _, x := range addrs {
		ipn, ok := x.(*net.IPNet)
		if !ok {
			continue
		}
		ip4, mask := ipn.IP.To4(), ipn.Mask
		if ip4 == nil || len(mask) != 4 {
			continue
		}
		if ones, _ := mask.Size(); ones >= 31 {
			continue
		}
		var b [4]byte
		for i := range b {
			b[i] = ip4[i] | ^mask[i]
		}
		if netip.AddrFrom4(b) == a {
			return true
		}
	}
	return false
}

// IsLocal reports whether a (zone ignored, IPv4-mapped unmapped) is one of
// this host's addresses, on any interface.
func IsLocal(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	addrs, _ := net.InterfaceAddrs()
	for _, x := range addrs {
		if ipn, ok := x.(*net.IPNet); ok {
			if b, ok := netip.AddrFromSlice(ipn.IP); ok && b.Unmap() == a {
				return true
			}
		}
	}
	return false
}
