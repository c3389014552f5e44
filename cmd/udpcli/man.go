package main

import (
	"fmt"

	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/manpage"
	"github.com/udpkit/udpkit/internal/version"
)

// writeManPages is "udpcli man DIRECTORY".
func writeManPages(io cli.IO, dir string) error {
	pages := app.ManPages(program(), "send, ping, discover and test UDP services on the LAN", "udpkit "+version.String(), "udpserver(1)")
	files, err := manpage.WriteDir(dir, pages)
	if err != nil {
		return cli.Failed(err)
	}
	for _, f := range files {
		fmt.Fprintln(io.Out, f)
	}
	return nil
}
