package discovery

import (
	"fmt"
	"net"
	"net/netip"
)

// selectLinks picks the interfaces named by specs (netif syntax; none: the
// default selection).
// TODO(netif): replace by netif.Select once the netif branch is merged.
func selectLinks(specs []string) ([]link, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoInterface, err)
	}
	var out []link
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 {
			continue
		}
		if len(specs) == 0 && ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		if len(specs) > 0 && !contains(specs, ifi.Name) {
			continue
		}
		l := link{name: ifi.Name, index: ifi.Index,
			broadcast: ifi.Flags&net.FlagBroadcast != 0, multicast: ifi.Flags&net.FlagMulticast != 0}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, _ := netip.AddrFromSlice(ipn.IP)
			ones, _ := ipn.Mask.Size()
			ip = ip.Unmap()
			switch {
			case ip.Is4():
				p := netip.PrefixFrom(ip, ones)
				var b netip.Addr
				if l.broadcast && ones < 31 {
					b4 := ip.As4()
					m := ^uint32(0) >> ones
					v := uint32(b4[0])<<24 | uint32(b4[1])<<16 | uint32(b4[2])<<8 | uint32(b4[3]) | m
					b = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
				}
				l.v4 = append(l.v4, v4addr{p, b})
			case ip.IsLinkLocalUnicast():
				if !l.ll6.IsValid() {
					l.ll6 = ip.WithZone(ifi.Name)
				}
			default:
				l.v6 = append(l.v6, ip)
			}
		}
		if len(l.v4) == 0 && !l.ll6.IsValid() {
			continue
		}
		if len(specs) == 0 && !l.broadcast && !l.multicast {
			continue
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no interface matches %q", ErrNoInterface, specs)
	}
	return out, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
