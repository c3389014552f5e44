package cli

import (
	"bytes"

	"github.com/udpkit/udpkit/internal/completion"
	"github.com/udpkit/udpkit/internal/manpage"
)

// Spec describes the program for completion scripts and man pages: every
// command and subcommand with the flag set its Setup fills, so that neither
// can drift from what the program accepts. args completes the positional
// arguments of the commands it names; ifaces names the flags that take an
// interface (completion.Program.Ifaces).
func (p *Program) Spec(args map[string]completion.Args, ifaces []string) completion.Program {
	sp := completion.Program{Name: p.Name, Ifaces: ifaces}
	for _, c := range p.Commands {
		cs := p.spec(c, c.Name)
		cs.Args = args[c.Name]
		sp.Commands = append(sp.Commands, cs)
	}
	return sp
}

// spec describes c, named path, and its subcommands.
func (p *Program) spec(c *Command, path string) completion.Command {
	fs := p.FlagSet(path)
	c.Setup(fs)
	sp := completion.Command{Name: path, Summary: c.Summary, Usage: c.Usage, Flags: fs}
	for _, s := range c.Subs {
		sp.Subs = append(sp.Subs, p.spec(s, path+" "+s.Name))
	}
	return sp
}

// ManPages returns the program's manual pages: PROGRAM(1), with summary
// and the text of "PROGRAM help", then PROGRAM-COMMAND(1) for every command
// and subcommand of spec (Spec), each with its --help text and flags.
// version is the footer; seeAlso are further pages every page names.
func (p *Program) ManPages(spec completion.Program, summary, version string, seeAlso ...string) []manpage.Page {
	var help bytes.Buffer
	p.PrintHelp(&help)
	cmds := completion.Flatten(spec.Commands)
	var see []string
	for _, c := range cmds {
		see = append(see, p.Name+"-"+completion.Key(c.Name)+"(1)")
	}
	pages := []manpage.Page{{Name: p.Name, Section: 1, Summary: summary, Help: help.String(), Version: version,
		SeeAlso: append(see, seeAlso...)}}
	for _, c := range cmds {
		pages = append(pages, manpage.Page{Name: p.Name + "-" + completion.Key(c.Name), Section: 1, Summary: c.Summary,
			Help: c.Usage, Flags: c.Flags, Version: version, SeeAlso: append([]string{p.Name + "(1)"}, seeAlso...)})
	}
	return pages
}
