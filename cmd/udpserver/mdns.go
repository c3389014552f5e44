package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/mdns"
	"github.com/udpkit/udpkit/wire"
)

// mdnsOptions are the mDNS / DNS-SD flags of udpserver.
type mdnsOptions struct {
	on      bool
	service string
}

func (o *mdnsOptions) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.on, "mdns", false, "also publish the server over mDNS / DNS-SD (UDP 5353), for avahi-browse, dns-sd and zeroconf libraries")
	fs.StringVar(&o.service, "mdns-service", discovery.DefaultService, "DNS-SD service `type` published with --mdns")
}

func (o *mdnsOptions) validate() error {
	if !o.on {
		return nil
	}
	if err := wire.ValidateService(o.service); err != nil {
		return fmt.Errorf("invalid --mdns-service %q: %w", o.service, err)
	}
	return nil
}

// startMDNS publishes the server with an mDNS responder until ctx ends,
// then sends goodbyes; done is closed when they are out. instance is the
// name the discovery announcer uses ("" when it is off: the --instance
// flag or the default name).
func startMDNS(ctx context.Context, o mdnsOptions, a announceOptions, instance string, port uint16, bound []netip.Addr, log *slog.Logger) (<-chan struct{}, error) {
	done := make(chan struct{})
	if !o.on || port == 0 {
		close(done)
		return done, nil
	}
	if instance == "" {
		instance = a.instance
	}
	if instance == "" {
		var as []string
		for _, b := range bound {
			as = append(as, b.String())
		}
		instance = discovery.DefaultInstance(port, as)
	}
	r, err := mdns.NewResponder(mdns.ResponderConfig{
		Service:    o.service,
		Instance:   instance,
		Port:       port,
		Text:       mdns.ServerText(a.attrs),
		Interfaces: a.ifaces,
		Bound:      bound,
		Logger:     log,
	})
	if err != nil {
		if errors.Is(err, mdns.ErrNoInterface) && len(a.ifaces) == 0 {
			log.Info("not publishing over mDNS", "reason", err)
			close(done)
			return done, nil
		}
		return nil, &announceError{err: fmt.Errorf("mdns: %w", err), usage: len(a.ifaces) > 0 || errors.Is(err, wire.ErrInvalidName)}
	}
	log.Info("publishing over mDNS", "service", o.service, "instance", instance, "host", r.Host()+".local", "port", port, "interfaces", r.Interfaces())
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			log.Warn("mDNS responder stopped", "err", err)
		}
	}()
	return done, nil
}
