package main

import (
	"github.com/udpkit/udpkit/internal/completion"
)

// program describes udpcli for completion scripts and man pages
// (cli.Program.Spec): the same flag sets and help texts that parse and
// explain the command line.
func program() completion.Program {
	return app.Spec(map[string]completion.Args{"ifaces": completion.ArgsIfaces, "completion": completion.ArgsShells, "man": completion.ArgsDirs},
		[]string{"iface"})
}

// specs returns every command's description.
func specs() []completion.Command { return program().Commands }
