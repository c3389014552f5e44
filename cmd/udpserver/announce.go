package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/discovery"
)

// announceOptions are the discovery flags of udpserver.
type announceOptions struct {
	off      bool
	service  string
	instance string
	ifaces   []string
	attrs    []string
	ttl      time.Duration
	ttlFlag  *time.Duration // set by Parse; copied into ttl by validate
	keys     *auth.Keyring  // --key-file: discovery is authenticated
	mdns     mdnsOptions
}

func (o *announceOptions) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.off, "no-announce", false, "do not announce the server on the LAN (and do not answer discovery queries)")
	fs.StringVar(&o.service, "service", discovery.DefaultService, "DNS-SD service `type` to announce")
	fs.StringVar(&o.instance, "instance", "", "instance `name`, unique on the LAN, up to 63 bytes of UTF-8 (default: host name and a short hash of port and addresses)")
	cliflag.Interfaces(fs, &o.ifaces)
	fs.StringArrayVar(&o.attrs, "attr", nil, "attribute to announce, `key=value` as in DNS-SD TXT records (repeatable)")
	o.ttlFlag = cliflag.Seconds(fs, "announce-ttl", "", discovery.DefaultTTL, "how long browsers keep the announcement, in seconds (120) or a duration (2m); refreshed every 2/3 of it")
	o.mdns.register(fs)
}

// validate checks the names before any socket is opened, so that a typo is
// a usage error (exit 2), not a failure at run time.
func (o *announceOptions) validate() error {
	if o.ttlFlag != nil {
		o.ttl = *o.ttlFlag
	}
	if err := o.mdns.validate(); err != nil {
		return err
	}
	if o.off && !o.mdns.on {
		return nil
	}
	if err := wire.ValidateService(o.service); err != nil {
		return fmt.Errorf("invalid --service %q: %w", o.service, err)
	}
	if o.instance != "" {
		if err := wire.ValidateInstance(o.instance); err != nil {
			return fmt.Errorf("invalid --instance %q: %w", o.instance, err)
		}
	}
	for _, a := range o.attrs {
		if err := wire.ValidateAttr(a); err != nil {
			return fmt.Errorf("invalid --attr %q: %w (want key=value)", a, err)
		}
	}
	if o.ttl < time.Second || o.ttl > discovery.MaxTTL {
		return fmt.Errorf("invalid --announce-ttl %v: want 1s to %v", o.ttl, discovery.MaxTTL)
	}
	for _, spec := range o.ifaces {
		if _, err := netif.Select(spec); err != nil {
			return fmt.Errorf("invalid -I %q: %w (run 'udpcli ifaces' to see the interfaces)", spec, err)
		}
	}
	return nil
}

// announceError is a reason not to start: the announcement that the flags
// ask for cannot be made. Its exit status is 2 for a mistake on the command
// line, 1 for anything else.
type announceError struct {
	err   error
	usage bool
}

func (e *announceError) Error() string {
	return "cannot announce on the LAN: " + e.err.Error() + " (--no-announce serves without discovery)"
}

func (e *announceError) Unwrap() error { return e.err }

// startAnnouncer announces the server bound to conns until ctx ends, then
// sends the goodbyes; the returned channel is closed when they are out.
// With the default selection, a server that has nothing to announce on
// (bound to loopback, a container without a LAN interface) is still served,
// with a log line. Everything else that stops the announcement the flags
// ask for (-I naming an interface that cannot carry it, attributes that do
// not fit, the discovery port unavailable) is an *announceError.
func startAnnouncer(ctx context.Context, o announceOptions, conns []*net.UDPConn, log *slog.Logger) (*discovery.Announcer, <-chan struct{}, error) {
	done := make(chan struct{})
	if (o.off && !o.mdns.on) || len(conns) == 0 {
		close(done)
		return nil, done, nil
	}
	port, bound, others := udpserver.Bound(conns)
	for _, p := range others {
		log.Warn("listening on several ports; announcing the first", "port", port, "other", p)
	}
	if o.off {
		mdnsDone, err := startMDNS(ctx, o.mdns, o, "", port, bound, log)
		return nil, mdnsDone, err
	}
	a, err := discovery.NewAnnouncer(discovery.AnnouncerConfig{
		Service:    o.service,
		Instance:   o.instance,
		Port:       port,
		Bound:      bound,
		Interfaces: o.ifaces,
		Attrs:      o.attrs,
		TTL:        o.ttl,
		Keys:       o.keys,
		Logger:     log,
	})
	if err != nil {
		if errors.Is(err, discovery.ErrNoInterface) && len(o.ifaces) == 0 {
			log.Info("not announcing on the LAN", "reason", err)
			close(done)
			return nil, done, nil
		}
		return nil, nil, &announceError{err: err, usage: len(o.ifaces) > 0 || errors.Is(err, wire.ErrInvalidName)}
	}
	mdnsDone, err := startMDNS(ctx, o.mdns, o, a.Instance(), port, bound, log)
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	log.Info("announcing", "service", a.Service(), "instance", a.Instance(), "port", port, "interfaces", a.Interfaces(), "ttl", o.ttl)
	go func() {
		defer close(done)
		if err := a.Run(ctx); err != nil {
			log.Warn("announcer stopped", "err", err)
		}
		<-mdnsDone
	}()
	return a, done, nil
}
