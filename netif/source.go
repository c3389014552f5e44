package netif

import (
	"fmt"
	"net"
	"net/netip"

	sockaddr "github.com/hashicorp/go-sockaddr"
)

// source is where Select learns about interfaces. The system source asks the
// kernel; tests use a fake.
type source interface {
	// Interfaces returns the interfaces, as net.Interfaces does.
	Interfaces() ([]net.Interface, error)
	// Addrs returns the addresses of ifi with their prefix lengths.
	Addrs(ifi net.Interface) ([]netip.Prefix, error)
	// DefaultInterfaceName returns the name of the interface holding the
	// default route. Only templates that ask for it call it.
	DefaultInterfaceName() (string, error)
}

// systemSource reads the machine's interfaces.
type systemSource struct{}

// system is the source Select uses.
var system source = systemSource{}

func (systemSource) Interfaces() ([]net.Interface, error) {
	return net.Interfaces()
}

func (systemSource) Addrs(ifi net.Interface) ([]netip.Prefix, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, 0, len(addrs))
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ones, _ := ipn.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

// DefaultInterfaceName asks go-sockaddr, which runs `ip route` on Linux
// and fails when there is no default route or no ip command.
func (systemSource) DefaultInterfaceName() (string, error) {
	ri, err := sockaddr.NewRouteInfo()
	if err != nil {
		return "", err
	}
	return ri.GetDefaultInterfaceName()
}

// entry is an interface as read from a source: the Interface built from it
// plus the raw material go-sockaddr templates need.
type entry struct {
	iface    Interface
	raw      net.Interface
	prefixes []netip.Prefix
}

// load reads every interface and its addresses from src.
func load(src source) ([]entry, error) {
	ifs, err := src.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("netif: listing interfaces: %w", err)
	}
	out := make([]entry, 0, len(ifs))
	for _, raw := range ifs {
		prefixes, err := src.Addrs(raw)
		if err != nil {
			return nil, fmt.Errorf("netif: addresses of %s: %w", raw.Name, err)
		}
		out = append(out, entry{iface: build(raw, prefixes), raw: raw, prefixes: prefixes})
	}
	return out, nil
}

// build turns a net.Interface and its addresses into an Interface.
func build(raw net.Interface, prefixes []netip.Prefix) Interface {
	ifi := Interface{
		Name:  raw.Name,
		Index: raw.Index,
		Flags: raw.Flags,
		MTU:   raw.MTU,
	}
	for _, p := range prefixes {
		a := p.Addr().Unmap()
		switch {
		case a.Is4():
			p = netip.PrefixFrom(a, min(p.Bits(), 32))
			v4 := IPv4Addr{Addr: p}
			if raw.Flags&net.FlagBroadcast != 0 {
				v4.Broadcast = broadcastAddr(p)
			}
			ifi.IPv4 = append(ifi.IPv4, v4)
		case a.IsLinkLocalUnicast():
			if !ifi.IPv6LinkLocal.IsValid() {
				ifi.IPv6LinkLocal = a.WithZone(raw.Name)
			}
		default:
			ifi.IPv6 = append(ifi.IPv6, netip.PrefixFrom(a.WithZone(""), p.Bits()))
		}
	}
	return ifi
}

// broadcastAddr returns the directed broadcast address of an IPv4 prefix,
// or the zero Addr for /31, /32 and invalid prefixes (RFC 3021: a /31 has
// no broadcast address).
func broadcastAddr(p netip.Prefix) netip.Addr {
	if !p.IsValid() || !p.Addr().Is4() || p.Bits() > 30 {
		return netip.Addr{}
	}
	b := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
