package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/manpage"
	"github.com/udpkit/udpkit/internal/version"
)

func init() {
	app.Register(&cli.Command{
		Name:    "man",
		Summary: "write the manual pages (udpcli.1, udpcli-send.1, ...) into a directory",
		Usage:   helpText("man"),
		Setup: func(fs *pflag.FlagSet) func(ctx context.Context, io cli.IO, args []string) error {
			return func(ctx context.Context, io cli.IO, args []string) error {
				if len(args) != 1 {
					return cli.Usagef("want one directory")
				}
				files, err := manpage.WriteDir(args[0], manPages())
				if err != nil {
					return cli.Failed(err)
				}
				for _, f := range files {
					fmt.Fprintln(io.Out, f)
				}
				return nil
			}
		},
	})
}

// manPages returns every page: udpcli(1), then one per command and
// subcommand.
func manPages() []manpage.Page {
	return app.ManPages(program(), "send, ping, discover and test UDP services on the LAN", "udpkit "+version.String(), "udpserver(1)")
}
