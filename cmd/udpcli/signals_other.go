//go:build !unix

package main

import "os"

// statusSignals: none outside Unix.
var statusSignals []os.Signal
