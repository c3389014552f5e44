package mdns

import "net/netip"

// AddrPorts returns the instance's addresses with its SRV port, in the
// order of Addrs: what a client dials. Nil when no address is known.
func (in Instance) AddrPorts() []netip.AddrPort {
	var aps []netip.AddrPort
	for _, a := range in.Addrs {
		aps = append(aps, netip.AddrPortFrom(a, in.Port))
	}
	return aps
}
