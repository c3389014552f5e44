package main

import (
	"context"
	"errors"

	"github.com/udpkit/udpkit/client"
)

// dial is client.Dial; tests substitute errors this machine cannot produce.
var dial = client.Dial

// dialServer opens a client to address. A malformed address or a name that
// does not exist is a usage error (exit 2, with the hint to --help); any
// other failure, such as no route to the address or every address of a name
// refusing, is the network's answer (exit 1).
func dialServer(ctx context.Context, address string, cfg client.Config) (*client.Client, error) {
	c, err := dial(ctx, address, cfg)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, client.ErrBadAddress):
		return nil, usagef("%v", err)
	case errors.Is(err, context.Canceled):
		return nil, failed(errors.New("interrupted"))
	}
	return nil, failed(err)
}
