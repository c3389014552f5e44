package main

import (
	"errors"
	"fmt"

	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/completion"
)

// writeCompletion is "udpcli completion SHELL".
func writeCompletion(io cli.IO, shell string) error {
	// TestCompletionBash drives the bash script in a real bash.
	err := program().Write(io.Out, shell)
	if errors.Is(err, completion.ErrUnknownShell) {
		return cli.Usagef("unknown shell %q: want bash, zsh or fish", shell)
	} else if err != nil {
		return cli.Failed(fmt.Errorf("write: %w", err))
	}
	return nil
}
