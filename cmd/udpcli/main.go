// Command udpcli sends, pings, discovers and tests UDP services on the LAN.
//
// Run "udpcli help" for the list of subcommands and "udpcli help COMMAND"
// (or "udpcli COMMAND --help") for each one's flags and examples.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Caught from the start, so that SIGQUIT never ends udpcli with a Go
	// stack dump.
	status := make(chan os.Signal, 1)
	if len(statusSignals) > 0 { // Notify with no signal would relay all of them
		signal.Notify(status, statusSignals...)
	}
	os.Exit(run(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Status: status}))
}

// run executes udpcli with args (without the program name) and returns the
// exit status.
func run(ctx context.Context, args []string, sio cli.IO) int { return app.Run(ctx, args, sio) }
