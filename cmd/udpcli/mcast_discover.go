package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"sync"

	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/multicast"
	"github.com/udpkit/udpkit/wire"
)

// mcastDiscovery announces this participant and adds the participants of
// the same group that announce themselves as peers of t, until stop is
// called; stop sends the goodbyes and waits for them.
func mcastDiscovery(ctx context.Context, t *multicast.Test, group netip.AddrPort, ifaces []string, w io.Writer) (stop func(), err error) {
	session := fmt.Sprintf("%08x", t.Session())
	a, err := discovery.NewAnnouncer(discovery.AnnouncerConfig{
		Service:    wire.ServiceMulticastTest,
		Instance:   "udpcli mcast test " + session,
		Port:       group.Port(),
		Interfaces: ifaces,
		Attrs:      []string{wire.AttrGroup + "=" + group.String(), wire.AttrSession + "=" + session},
	})
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	b, err := discovery.NewBrowser(discovery.BrowserConfig{Interfaces: ifaces})
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("discovery: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.Run(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(w, "udpcli mcast test: announcing: %v\n", err)
		}
	})
	wg.Go(func() {
		err := b.Browse(ctx, wire.ServiceMulticastTest, func(in discovery.Instance) {
			if g, _ := in.Attr(wire.AttrGroup); g != group.String() {
				return
			}
			s, _ := in.Attr(wire.AttrSession)
			sess, err := strconv.ParseUint(s, 16, 32)
			if err != nil || uint32(sess) == t.Session() {
				return
			}
			if addr, ok := peerAddr(in.Addrs, group); ok {
				t.AddPeer(addr, uint32(sess))
			}
		})
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(w, "udpcli mcast test: browsing: %v\n", err)
		}
	})
	return func() {
		cancel()
		wg.Wait()
		b.Close()
		a.Close()
	}, nil
}

// peerAddr picks the address of a found participant to probe: of the
// group's family, a global or private one before a link-local one.
func peerAddr(addrs []netip.AddrPort, group netip.AddrPort) (netip.AddrPort, bool) {
	var ll netip.AddrPort
	for _, a := range addrs {
		ip := a.Addr().Unmap()
		if ip.Is4() != group.Addr().Is4() || !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() {
			continue
		}
		a = netip.AddrPortFrom(ip, a.Port())
		if ip.IsLinkLocalUnicast() {
			if !ll.IsValid() {
				ll = a
			}
			continue
		}
		return a, true
	}
	return ll, ll.IsValid()
}
