package main

import (
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/completion"
)

// program describes udpcli for completion scripts and man pages: the same
// flag sets and help texts that parse and explain the command line, so
// that neither can drift from what udpcli accepts.
func program() completion.Program {
	return completion.Program{Name: "udpcli", Commands: specs(), Ifaces: []string{"iface"}}
}

// specs returns every command's description.
func specs() []completion.Command {
	var out []completion.Command
	for _, c := range app.Commands {
		sp := spec(c, c.Name)
		switch c.Name {
		case "ifaces":
			sp.Args = completion.ArgsIfaces
		case "completion":
			sp.Args = completion.ArgsShells
		case "man":
			sp.Args = completion.ArgsDirs
		}
		out = append(out, sp)
	}
	return out
}

// spec describes c, named path, and its subcommands.
func spec(c *cli.Command, path string) completion.Command {
	fs := app.FlagSet(path)
	c.Setup(fs)
	sp := completion.Command{Name: path, Summary: c.Summary, Usage: c.Usage, Flags: fs}
	for _, s := range c.Subs {
		sp.Subs = append(sp.Subs, spec(s, path+" "+s.Name))
	}
	return sp
}
