package main

import (
	"bytes"
	"context"
	"io"
	"strings"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/completion"
)

// mcastSubs are the mcast subcommands with a one-line summary each.
var mcastSubs = []struct {
	name, summary string
	run           func(context.Context, stdio, []string) error
}{
	{"listen", "join a group and print the datagrams sent to it", mcastListen},
	{"send", "send datagrams to a group on every selected interface", mcastSend},
	{"test", "test a group with its peers, like omping", mcastTest},
}

// program describes udpcli for completion scripts and man pages: the same
// flag sets and help texts that parse and explain the command line, so
// that neither can drift from what udpcli accepts.
func program() completion.Program {
	return completion.Program{Name: "udpcli", Commands: specs(), Ifaces: []string{"iface"}}
}

// specs returns every command's description.
func specs() []completion.Command {
	var out []completion.Command
	for _, c := range commands {
		fs := newFlagSet(c)
		c.setup(fs)
		sp := completion.Command{Name: c.name, Summary: c.summary, Usage: c.usage, Flags: fs}
		switch c.name {
		case "ifaces":
			sp.Args = completion.ArgsIfaces
		case "completion":
			sp.Args = completion.ArgsShells
		case "man":
			sp.Args = completion.ArgsDirs
		case "mcast":
			for _, s := range mcastSubs {
				var sub *pflag.FlagSet
				s.run(context.Background(), stdio{in: strings.NewReader(""), out: io.Discard, err: io.Discard,
					flags: func(fs *pflag.FlagSet) { sub = fs }}, nil)
				if sub == nil {
					continue
				}
				sp.Subs = append(sp.Subs, completion.Command{Name: "mcast " + s.name, Summary: s.summary, Usage: subUsage(sub), Flags: sub})
			}
		}
		out = append(out, sp)
	}
	return out
}

// subUsage is the help text of an mcast subcommand without its flags: the
// subcommands print both through their FlagSet's Usage.
func subUsage(fs *pflag.FlagSet) string {
	var b bytes.Buffer
	old := fs.Output()
	fs.SetOutput(&b)
	fs.Usage()
	fs.SetOutput(old)
	u, _, _ := strings.Cut(b.String(), "\n\nFlags:\n")
	return u
}
