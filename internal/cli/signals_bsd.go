//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package cli

import (
	"os"
	"syscall"
)

// statusSignals ask a running command for an interim status line: SIGINFO
// (Ctrl-T) as the BSDs' ping, SIGQUIT as iputils ping, SIGUSR1 as dd.
var statusSignals = []os.Signal{syscall.SIGINFO, syscall.SIGQUIT, syscall.SIGUSR1}
