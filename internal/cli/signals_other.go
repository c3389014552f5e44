//go:build !unix

package cli

import "os"

// statusSignals: none outside Unix.
var statusSignals []os.Signal
