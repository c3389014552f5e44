package main

// The completion command: internal/completion writes the scripts from
// udpcli's flag sets (cmdspec.go). TestCompletionBash drives the bash
// script in a real bash.

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/completion"
)

func init() {
	register(&command{
		name:    "completion",
		summary: "print a shell completion script (bash, zsh or fish)",
		usage:   helpText("completion"),
		setup: func(fs *pflag.FlagSet) func(ctx context.Context, io stdio, args []string) error {
			return func(ctx context.Context, sio stdio, args []string) error {
				if len(args) != 1 {
					return usagef("want one shell: bash, zsh or fish")
				}
				err := program().Write(sio.out, args[0])
				if errors.Is(err, completion.ErrUnknownShell) {
					return usagef("unknown shell %q: want bash, zsh or fish", args[0])
				}
				if err != nil {
					return failed(fmt.Errorf("write: %w", err))
				}
				return nil
			}
		},
	})
}
