package main

import (
	"errors"
	"fmt"

	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/completion"
)

func init() {
	app.Register(&cli.Command{Name: "completion", Summary: "print a shell completion script (bash, zsh or fish)", Usage: helpText("completion"),
		Setup: oneArg("shell: bash, zsh or fish", func(io cli.IO, shell string) error {
			// TestCompletionBash drives the bash script in a real bash.
			err := program().Write(io.Out, shell)
			if errors.Is(err, completion.ErrUnknownShell) {
				return cli.Usagef("unknown shell %q: want bash, zsh or fish", shell)
			} else if err != nil {
				return cli.Failed(fmt.Errorf("write: %w", err))
			}
			return nil
		})})
}
