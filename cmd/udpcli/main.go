// Command udpcli sends, pings, discovers and tests UDP services on the LAN.
//
// Run "udpcli help" for the list of subcommands and "udpcli help COMMAND"
// (or "udpcli COMMAND --help") for each one's flags and examples.
package main

import (
	"context"

	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/version"
)

// app is udpcli's command table (internal/cli), filled by the init
// functions of the command files.
var app = &cli.Program{
	Name:    "udpcli",
	Help:    helpText("udpcli"),
	Version: version.Line("udpcli"),
	// The order of "udpcli help": the everyday commands first.
	Order: []string{"send", "ping", "discover", "watch", "ifaces", "mcast", "bench", "completion", "man"},
}

func main() { app.Main() }

// run executes udpcli with args (without the program name) and returns the
// exit status.
func run(ctx context.Context, args []string, sio cli.IO) int { return app.Run(ctx, args, sio) }
