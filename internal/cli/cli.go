package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/internal/errwriter"
)

// Exit statuses, as ping and nc users expect them.
const (
	ExitOK     = 0 // everything asked for happened
	ExitFailed = 1 // the network said no: not acknowledged, no reply, nothing found
	ExitUsage  = 2 // bad flags, bad arguments, bad input, or a local error
)

// IO is what a command may read and write; tests pass buffers.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// Status delivers the signals that ask for an interim status line
	// (SIGQUIT, SIGUSR1, SIGINFO where it exists) to a command whose
	// Status field is set; nil in tests.
	Status <-chan os.Signal
}

// Command is one command or subcommand of a Program.
type Command struct {
	Name    string
	Summary string // one line for "PROGRAM help"
	Usage   string // synopsis and explanation shown by --help, before the flags
	// Setup registers the command's flags on fs and returns the function
	// that runs it with the positional arguments (nil for a command with
	// subcommands).
	Setup func(fs *pflag.FlagSet) func(ctx context.Context, io IO, args []string) error
	// Status is set for a command that prints an interim status line on
	// the IO's Status signals (ping, as iputils ping does on SIGQUIT);
	// every other command stops on them as on Ctrl-C.
	Status bool
	// Subs are the subcommands ("mcast listen"): the first argument after
	// the command's own flags names one, which parses the rest.
	Subs []*Command
}

// Sub returns c's subcommand name, or nil.
func (c *Command) Sub(name string) *Command {
	for _, s := range c.Subs {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// subNames lists c's subcommands for a message: "listen, send or test".
func (c *Command) subNames() string {
	var names []string
	for _, s := range c.Subs {
		names = append(names, s.Name)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Program is a tool made of commands.
type Program struct {
	Name string // "udpcli": the messages' prefix and the flag sets' name
	// Help is the text of "PROGRAM help"; its line "{{commands}}" is
	// replaced by the list of commands and their summaries.
	Help string
	// Version is the line "PROGRAM version" and --version print.
	Version string
	// Commands is the table, in the order of Help's list.
	Commands []*Command
}

// Lookup returns the command name, or nil.
func (p *Program) Lookup(name string) *Command {
	for _, c := range p.Commands {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Run executes the program with args (without the program name) and
// returns the exit status. A failed write to stdout (a full disk,
// > /dev/full) stops the command as Ctrl-C would, and makes the status 1
// with the error.
func (p *Program) Run(ctx context.Context, args []string, sio IO) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := &errwriter.Writer{W: sio.Out, OnError: func(error) { cancel() }}
	sio.Out = out
	code := p.dispatch(ctx, args, sio)
	if err := out.Err(); err != nil {
		name := p.Name
		if len(args) > 0 && p.Lookup(args[0]) != nil {
			name += " " + args[0]
		}
		fmt.Fprintf(sio.Err, "%s: cannot write the output: %v\n", name, err)
		return ExitFailed
	}
	return code
}

// dispatch runs the command args[0], or help or version.
func (p *Program) dispatch(ctx context.Context, args []string, io IO) int {
	if len(args) == 0 {
		p.PrintHelp(io.Err)
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "--help":
		if len(args) > 1 {
			if c := p.Lookup(args[1]); c != nil {
				path := c.Name
				// "help mcast listen": as far as the names go.
				for _, a := range args[2:] {
					s := c.Sub(a)
					if s == nil {
						break
					}
					c, path = s, path+" "+s.Name
				}
				fs := p.FlagSet(path)
				c.Setup(fs)
				PrintUsage(io.Out, c, fs)
				return ExitOK
			}
			fmt.Fprintf(io.Err, "%s: unknown command %q; run '%s help' for the list\n", p.Name, args[1], p.Name)
			return ExitUsage
		}
		p.PrintHelp(io.Out)
		return ExitOK
	case "version", "--version":
		fmt.Fprintln(io.Out, p.Version)
		return ExitOK
	}
	c := p.Lookup(name)
	if c == nil {
		fmt.Fprintf(io.Err, "%s: unknown command %q; run '%s help' for the list\n", p.Name, name, p.Name)
		return ExitUsage
	}
	return p.execute(ctx, io, c, c.Name, args[1:])
}

// execute parses args with c's flags and runs c, or the subcommand that
// args name; path is the command's name as the messages give it ("mcast
// listen").
func (p *Program) execute(ctx context.Context, io IO, c *Command, path string, args []string) int {
	fs := p.FlagSet(path)
	exec := c.Setup(fs)
	if c.Subs != nil {
		fs.SetInterspersed(false) // the subcommand parses its own flags
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			PrintUsage(io.Out, c, fs)
			return ExitOK
		}
		fmt.Fprintf(io.Err, "%s %s: %s\nRun '%s %s --help' for usage.\n", p.Name, path, cliflag.ErrorText(err), p.Name, path)
		return ExitUsage
	}
	if c.Subs != nil {
		if h := fs.Lookup("help"); h != nil && h.Changed {
			PrintUsage(io.Out, c, fs)
			return ExitOK
		}
		if fs.NArg() == 0 {
			return p.Report(io.Err, path, Usagef("missing subcommand: %s", c.subNames()))
		}
		sub := c.Sub(fs.Arg(0))
		if sub == nil {
			return p.Report(io.Err, path, Usagef("unknown subcommand %q: want %s", fs.Arg(0), c.subNames()))
		}
		return p.execute(ctx, io, sub, path+" "+sub.Name, fs.Args()[1:])
	}
	if !c.Status && io.Status != nil {
		// No status line to print: the signal means stop, as Ctrl-C.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-io.Status:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	err := exec(ctx, io, fs.Args())
	if sw, ok := io.Out.(*errwriter.Writer); ok && sw.Err() != nil {
		// The write error stopped the command: Run reports it, not the
		// "interrupted" that followed from it.
		return ExitFailed
	}
	return p.Report(io.Err, path, err)
}

// Report prints err (if any) under the command's name ("mcast listen") and
// maps it to an exit status.
func (p *Program) Report(w io.Writer, name string, err error) int {
	if err == nil {
		return ExitOK
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "%s %s: %v\nRun '%s %s --help' for usage.\n", p.Name, name, ue, p.Name, name)
		return ExitUsage
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(w, "%s %s: %v\n", p.Name, name, ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(w, "%s %s: %v\n", p.Name, name, err)
	return ExitUsage
}

// FlagSet is the flag set of the command at path ("mcast listen"): its
// errors are returned, not printed, and --help is left to the dispatcher.
func (p *Program) FlagSet(path string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(p.Name+" "+path, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	// Parse reports errors to us; the dispatcher prints them with a hint
	// instead of the whole usage text, and --help prints the usage to stdout.
	fs.Usage = func() {}
	return fs
}

// PrintUsage writes the --help text of c: its Usage, then fs's flags.
func PrintUsage(w io.Writer, c *Command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "%s\n\nFlags:\n", c.Usage)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// PrintHelp writes "PROGRAM help": Help with the command list in place of
// its {{commands}} line.
func (p *Program) PrintHelp(w io.Writer) {
	head, tail, _ := strings.Cut(p.Help, "{{commands}}\n")
	fmt.Fprint(w, head)
	width := 8 // the summaries line up after the longest name
	for _, c := range p.Commands {
		width = max(width, len(c.Name))
	}
	for _, c := range p.Commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Summary)
	}
	fmt.Fprint(w, tail)
}
