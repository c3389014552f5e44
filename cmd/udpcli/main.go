// Command udpcli sends, pings, discovers and tests UDP services on the LAN.
//
// Run "udpcli help" for the list of subcommands and "udpcli help COMMAND"
// (or "udpcli COMMAND --help") for each one's flags and examples.
package main

import (
	"context"
	"embed"
	"strings"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/completion"
	"github.com/udpkit/udpkit/internal/version"
)

// app is udpcli's command table (internal/cli); init fills in the commands.
var app = &cli.Program{
	Name:    "udpcli",
	Help:    helpText("udpcli"),
	Version: version.Line("udpcli"),
}

// init lists the commands in the order of "udpcli help", the everyday ones
// first, and gives each its help text. Not app's initializer: man and
// completion read app.
func init() {
	app.Commands = []*cli.Command{
		{Name: "send", Summary: "send datagrams and report whether each was acknowledged", Setup: setupSend},
		{Name: "ping", Summary: "measure round trips to a udpkit server, like ping", Setup: setupPing, Status: true},
		{Name: "discover", Summary: "find udpkit servers on the LAN", Setup: setupDiscover},
		{Name: "watch", Summary: "report udpkit servers coming and going", Setup: setupWatch},
		{Name: "ifaces", Summary: "show which interfaces a selection (-I) picks, and why others are skipped", Setup: setupIfaces},
		{Name: "mcast", Summary: "join, listen to, send to and test multicast groups", Setup: setupMcast, Subs: []*cli.Command{
			{Name: "listen", Summary: "join a group and print the datagrams sent to it", Setup: setupMcastListen},
			{Name: "send", Summary: "send datagrams to a group on every selected interface", Setup: setupMcastSend},
			{Name: "test", Summary: "test a group with its peers, like omping", Setup: setupMcastTest},
		}},
		{Name: "bench", Summary: "measure a server's acknowledgement rate and latency under load", Setup: setupBench, Status: true},
		{Name: "completion", Summary: "print a shell completion script (bash, zsh or fish)", Setup: oneArg("shell: bash, zsh or fish", writeCompletion)},
		{Name: "man", Summary: "write the manual pages (udpcli.1, udpcli-send.1, ...) into a directory", Setup: oneArg("directory", writeManPages)},
		{Name: "keygen", Summary: "write a new key file for authenticated messages", Setup: setupKeygen},
	}
	for _, c := range app.Commands {
		c.Usage = helpText(c.Name)
		for _, s := range c.Subs {
			s.Usage = helpText(c.Name + "-" + s.Name)
		}
	}
}

func main() { app.Main() }

// run executes udpcli with args (without the program name) and returns the
// exit status.
func run(ctx context.Context, args []string, sio cli.IO) int { return app.Run(ctx, args, sio) }

// The long help texts, one per command ("mcast-listen" for a subcommand):
// the one source of --help, "udpcli help X", the man pages and completion.
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

// program describes udpcli for completion scripts and man pages: the same
// flag sets and help texts that parse and explain the command line.
func program() completion.Program {
	return app.Spec(map[string]completion.Args{"ifaces": completion.ArgsIfaces, "completion": completion.ArgsShells, "man": completion.ArgsDirs},
		[]string{"iface"})
}

// oneArg is the Setup of a command without flags that takes one argument.
func oneArg(want string, fn func(io cli.IO, arg string) error) func(*pflag.FlagSet) func(context.Context, cli.IO, []string) error {
	return func(*pflag.FlagSet) func(context.Context, cli.IO, []string) error {
		return func(_ context.Context, io cli.IO, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("want one %s", want)
			}
			return fn(io, args[0])
		}
	}
}
