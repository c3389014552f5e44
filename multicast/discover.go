package multicast

// Discovery of the participants of a test (PROTOCOL.md section 7): each
// announces itself with a section 6 Announcer and browses for the others.

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync"

	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/wire"
)

// DiscoverConfig configures Test.Discover. The zero value uses discovery's
// default interfaces and drops errors.
type DiscoverConfig struct {
	// Interfaces are netif specs for discovery (as
	// discovery.AnnouncerConfig.Interfaces). Default (nil): discovery's
	// default selection.
	Interfaces []string
	// OnError receives the errors of announcing and browsing that happen
	// after Discover returned. Default (nil): dropped.
	OnError func(error)
}

// Discover announces this participant for the length of the test
// (service wire.ServiceMulticastTest, instance "udpcli mcast test
// <session>", attributes group=G:P and session=<session>) and adds as
// peers (AddPeer) the instances of the same group with another session,
// probing the first address of the group's family (a link-local IPv6
// address only when there is no other). Call stop when the test is over:
// it sends the goodbyes and waits for them. Discover fails when the
// announcer or the browser cannot start.
func (t *Test) Discover(ctx context.Context, cfg DiscoverConfig) (stop func(), err error) {
	group := t.t.conn.Group()
	session := fmt.Sprintf("%08x", t.Session())
	a, err := discovery.NewAnnouncer(discovery.AnnouncerConfig{
		Service:    wire.ServiceMulticastTest,
		Instance:   "udpcli mcast test " + session,
		Port:       group.Port(),
		Interfaces: cfg.Interfaces,
		Attrs:      []string{wire.AttrGroup + "=" + group.String(), wire.AttrSession + "=" + session},
		Keys:       t.t.cfg.Keys,
	})
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	b, err := discovery.NewBrowser(discovery.BrowserConfig{Interfaces: cfg.Interfaces, Keys: t.t.cfg.Keys})
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("discovery: %w", err)
	}
	report := func(what string, err error) {
		if cfg.OnError != nil {
			cfg.OnError(fmt.Errorf("%s: %w", what, err))
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.Run(ctx); err != nil && ctx.Err() == nil {
			report("announcing", err)
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
			if addr, ok := discoveredAddr(in.Addrs, group); ok {
				t.AddPeer(addr, uint32(sess))
			}
		})
		if err != nil && ctx.Err() == nil {
			report("browsing", err)
		}
	})
	return func() {
		cancel()
		wg.Wait()
		b.Close()
		a.Close()
	}, nil
}

// discoveredAddr picks the address of a found participant to probe: of
// the group's family, a global or private one before a link-local one.
func discoveredAddr(addrs []netip.AddrPort, group netip.AddrPort) (netip.AddrPort, bool) {
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
