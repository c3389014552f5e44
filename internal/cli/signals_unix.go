//go:build unix && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly

package cli

import (
	"os"
	"syscall"
)

// statusSignals ask a running command for an interim status line: SIGQUIT
// as iputils ping (Ctrl-\), SIGUSR1 as dd.
var statusSignals = []os.Signal{syscall.SIGQUIT, syscall.SIGUSR1}
