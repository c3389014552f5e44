package main

// The completion command: internal/completion writes the scripts from
// udpcli's flag sets (cmdspec.go). TestCompletionBash drives the bash
// script in a real bash.

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/completion"
)

func init() {
	app.Register(&cli.Command{
		Name:    "completion",
		Summary: "print a shell completion script (bash, zsh or fish)",
		Usage:   helpText("completion"),
		Setup: func(fs *pflag.FlagSet) func(ctx context.Context, io cli.IO, args []string) error {
			return func(ctx context.Context, sio cli.IO, args []string) error {
				if len(args) != 1 {
					return cli.Usagef("want one shell: bash, zsh or fish")
				}
				err := program().Write(sio.Out, args[0])
				if errors.Is(err, completion.ErrUnknownShell) {
					return cli.Usagef("unknown shell %q: want bash, zsh or fish", args[0])
				}
				if err != nil {
					return cli.Failed(fmt.Errorf("write: %w", err))
				}
				return nil
			}
		},
	})
}
