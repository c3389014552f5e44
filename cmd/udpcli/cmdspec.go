package main

import (
	"bytes"
	"context"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// cmdSpec describes a command for completion scripts and man pages: the
// same flag sets and help texts that parse and explain the command line,
// so that neither can drift from what udpcli accepts.
type cmdSpec struct {
	name    string // "send", or "mcast listen"
	summary string
	usage   string // the --help text before "Flags:"
	flags   *pflag.FlagSet
	subs    []cmdSpec
	args    string // what the positional arguments complete to: "", "ifaces", "commands", "shells", "dirs"
}

// mcastSubs are the mcast subcommands with a one-line summary each.
var mcastSubs = []struct {
	name, summary string
	run           func(context.Context, stdio, []string) error
}{
	{"listen", "join a group and print the datagrams sent to it", mcastListen},
	{"send", "send datagrams to a group on every selected interface", mcastSend},
	{"test", "test a group with its peers, like omping", mcastTest},
}

// specs returns every command's description.
func specs() []cmdSpec {
	var out []cmdSpec
	for _, c := range commands {
		fs := newFlagSet(c)
		c.setup(fs)
		sp := cmdSpec{name: c.name, summary: c.summary, usage: c.usage, flags: fs}
		switch c.name {
		case "ifaces":
			sp.args = "ifaces"
		case "completion":
			sp.args = "shells"
		case "man":
			sp.args = "dirs"
		case "mcast":
			for _, s := range mcastSubs {
				var sub *pflag.FlagSet
				s.run(context.Background(), stdio{in: strings.NewReader(""), out: io.Discard, err: io.Discard,
					flags: func(fs *pflag.FlagSet) { sub = fs }}, nil)
				if sub == nil {
					continue
				}
				sp.subs = append(sp.subs, cmdSpec{name: "mcast " + s.name, summary: s.summary, usage: subUsage(sub), flags: sub})
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

// flagInfo is what the generators need to know about one flag.
type flagInfo struct {
	long, short string
	value       bool   // takes a value
	repeatable  bool   // may be given several times
	varname     string // the value's name in the help, such as SPEC
	help        string
	iface       bool // its value is an interface (-I)
}

// flagInfos lists fs's visible flags in definition order.
func flagInfos(fs *pflag.FlagSet) []flagInfo {
	var out []flagInfo
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Deprecated != "" {
			return
		}
		varname, help := pflag.UnquoteUsage(f)
		t := f.Value.Type()
		out = append(out, flagInfo{
			long:       f.Name,
			short:      f.Shorthand,
			value:      f.NoOptDefVal == "",
			repeatable: strings.HasSuffix(t, "Array") || strings.HasSuffix(t, "Slice"),
			varname:    varname,
			help:       help,
			iface:      f.Name == "iface",
		})
	})
	return out
}
