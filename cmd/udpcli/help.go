package main

import (
	"embed"
	"strings"
)

// The long help texts live in help/*.txt, one per command ("mcast-listen"
// for a subcommand), so that the Go files hold flags and calls, and the
// prose of --help, "udpcli help X", the man pages and completion comes
// from one place.
//
//go:embed help/*.txt
var helpFiles embed.FS

// helpText returns help/NAME.txt without its final newline; it panics on a
// missing file, which every test run of the command table would show.
func helpText(name string) string {
	b, err := helpFiles.ReadFile("help/" + name + ".txt")
	if err != nil {
		panic("udpcli: no help text " + name + ": " + err.Error())
	}
	return strings.TrimSuffix(string(b), "\n")
}
