package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/cli"

	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/wire"
)

// serviceOptions are send's --service flags: discover the servers of a
// service and fail over between them.
type serviceOptions struct {
	name   string
	ifaces []string
	wait   *time.Duration
	count  int
}

func (o *serviceOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.name, "service", "", "send to the servers of `SERVICE` (such as _udpkit._udp) found on the LAN instead of HOST:PORT, failing over between them")
	cliflag.Interfaces(fs, &o.ifaces)           // with --service: where to browse
	cliflag.AliasName(fs, "iface", "interface") // its first name, kept for scripts
	o.wait = cliflag.Seconds(fs, "discover-time", "", client.DefaultDiscoverTime, "with --service: how long to look for servers, in seconds (1) or a duration (500ms)")
	fs.IntVar(&o.count, "servers", 0, "with --service: stop looking once `N` servers were found (0: look for --discover-time)")
}

// dialService finds the servers and says which on stderr.
func dialService(ctx context.Context, sio cli.IO, o serviceOptions, cfg client.Config) (*client.ServiceClient, error) {
	if err := wire.ValidateService(o.name); err != nil {
		return nil, cli.Usagef("--service %q: %v", o.name, err)
	}
	if *o.wait <= 0 || o.count < 0 {
		return nil, cli.Usagef("--discover-time must be more than 0 and --servers 0 or more")
	}
	sc, err := client.DialService(ctx, o.name, client.ServiceConfig{Client: cfg, Interfaces: o.ifaces, DiscoverTime: *o.wait, Servers: o.count})
	switch {
	case errors.Is(err, context.Canceled):
		return nil, cli.Failed(errors.New("interrupted"))
	case errors.Is(err, discovery.ErrNoInterface), errors.Is(err, wire.ErrInvalidName):
		return nil, cli.Usagef("%v", err)
	case err != nil:
		return nil, cli.Failed(err)
	}
	var names []string
	for _, in := range sc.Servers() {
		names = append(names, in.Instance)
	}
	fmt.Fprintf(sio.Err, "%s servers: %s\n", o.name, strings.Join(names, ", "))
	return sc, nil
}
