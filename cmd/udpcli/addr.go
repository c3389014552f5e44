package main

import (
	"context"
	"errors"
	"strings"

	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/netaddr"
)

// dial is client.Dial; tests substitute errors this machine cannot produce.
var dial = client.Dial

// dialServer opens a client to address. A malformed address or a name that
// does not exist is a usage error (exit 2, with the hint to --help); any
// other failure, such as no route to the address or every address of a name
// refusing, is the network's answer (exit 1).
func dialServer(ctx context.Context, address string, cfg client.Config) (*client.Client, error) {
	if err := unicastOnly(address); err != nil {
		return nil, err
	}
	c, err := dial(ctx, address, cfg)
	if err != nil {
		return nil, dialError(err)
	}
	return c, nil
}

// dialError is the command's error for a failed dial or resolution.
func dialError(err error) error {
	switch {
	case errors.Is(err, client.ErrBadAddress):
		return cli.Usagef("%v", err)
	case errors.Is(err, context.Canceled):
		return cli.Failed(errors.New("interrupted"))
	}
	return cli.Failed(err)
}

// unicastOnly is the usage error for a server address that is a multicast
// group, which send, ping and bench refuse before resolving anything.
func unicastOnly(address string) error {
	if a, ok := netaddr.MulticastHost(address); ok {
		return cli.Usagef("%s is a multicast group; a udpkit server has a unicast address (find one with 'udpcli discover'; for groups see 'udpcli mcast')", a)
	}
	return nil
}

// splitPortHint is the hint for a HOST and a PORT given as two arguments
// ("udpcli ping 127.0.0.1 9797"): "127.0.0.1:9797", or "" when args do not
// look like that.
func splitPortHint(args []string) string {
	if len(args) < 2 || strings.HasPrefix(args[0], "-") {
		return ""
	}
	return netaddr.PortHint(args[0], args[1])
}
