// Command udpcli sends, pings, discovers and tests UDP services on the LAN.
//
// Run "udpcli help" for the list of subcommands and "udpcli help COMMAND"
// (or "udpcli COMMAND --help") for each one's flags and examples.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/internal/errwriter"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/version"
)

// Exit statuses, as ping and nc users expect them.
const (
	exitOK     = 0 // everything asked for happened
	exitFailed = 1 // the network said no: not acknowledged, no reply, nothing found
	exitUsage  = 2 // bad flags, bad arguments, bad input, or a local error
)

// stdio is what a subcommand may read and write; tests pass buffers.
type stdio struct {
	in  io.Reader
	out io.Writer
	err io.Writer
	// status delivers the signals that ask for an interim status line
	// (SIGQUIT, SIGUSR1, SIGINFO where it exists) to a command whose
	// status field is set; nil in tests.
	status <-chan os.Signal
}

// command is one udpcli subcommand.
type command struct {
	name    string
	summary string // one line for "udpcli help"
	usage   string // synopsis and explanation shown by --help, before the flags
	// setup registers the command's flags on fs and returns the function
	// that runs it with the positional arguments (nil for a command with
	// subcommands).
	setup func(fs *pflag.FlagSet) func(ctx context.Context, io stdio, args []string) error
	// status is set for a command that prints an interim status line on
	// SIGQUIT, SIGUSR1 or SIGINFO (ping, as iputils ping does on SIGQUIT);
	// every other command stops on them as on Ctrl-C.
	status bool
	// subs are the subcommands ("mcast listen"): the first argument after
	// the command's own flags names one, which parses the rest.
	subs []*command
}

// commands is filled by the init functions of the subcommand files.
var commands []*command

// helpOrder is the order of "udpcli help": the everyday commands first.
var helpOrder = []string{"send", "ping", "discover", "watch", "ifaces", "mcast", "bench", "completion", "man"}

func register(c *command) {
	commands = append(commands, c)
	rank := func(name string) int {
		for i, n := range helpOrder {
			if n == name {
				return i
			}
		}
		return len(helpOrder)
	}
	slices.SortStableFunc(commands, func(a, b *command) int { return rank(a.name) - rank(b.name) })
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitError carries an exit status with an optional message (empty: the
// command already reported what happened).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// failed returns an error that makes udpcli exit with status 1 and print err
// (nothing when err is nil).
func failed(err error) error { return &exitError{code: exitFailed, err: err} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Caught from the start, so that SIGQUIT never ends udpcli with a Go
	// stack dump.
	status := make(chan os.Signal, 1)
	if len(statusSignals) > 0 { // Notify with no signal would relay all of them
		signal.Notify(status, statusSignals...)
	}
	os.Exit(run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr, status: status}))
}

// run executes udpcli with args (without the program name) and returns the
// exit status. A failed write to stdout (a full disk, > /dev/full) stops
// the command as Ctrl-C would, and makes the status 1 with the error.
func run(ctx context.Context, args []string, sio stdio) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := &errwriter.Writer{W: sio.out, OnError: func(error) { cancel() }}
	sio.out = out
	code := dispatch(ctx, args, sio)
	if err := out.Err(); err != nil {
		name := "udpcli"
		if len(args) > 0 && lookup(args[0]) != nil {
			name += " " + args[0]
		}
		fmt.Fprintf(sio.err, "%s: cannot write the output: %v\n", name, err)
		return exitFailed
	}
	return code
}

// dispatch runs the command args[0].
func dispatch(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 {
		printHelp(io.err)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "--help":
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				path := c.name
				// "help mcast listen": as far as the names go.
				for _, a := range args[2:] {
					s := c.sub(a)
					if s == nil {
						break
					}
					c, path = s, path+" "+s.name
				}
				fs := flagSet(path)
				c.setup(fs)
				printUsage(io.out, c, fs)
				return exitOK
			}
			fmt.Fprintf(io.err, "udpcli: unknown command %q; run 'udpcli help' for the list\n", args[1])
			return exitUsage
		}
		printHelp(io.out)
		return exitOK
	case "version", "--version":
		fmt.Fprintln(io.out, version.Line("udpcli"))
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(io.err, "udpcli: unknown command %q; run 'udpcli help' for the list\n", name)
		return exitUsage
	}
	return execute(ctx, io, c, c.name, args[1:])
}

// execute parses args with c's flags and runs c, or the subcommand that
// args name; path is the command's name as the messages give it ("mcast
// listen").
func execute(ctx context.Context, io stdio, c *command, path string, args []string) int {
	fs := flagSet(path)
	exec := c.setup(fs)
	if c.subs != nil {
		fs.SetInterspersed(false) // the subcommand parses its own flags
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printUsage(io.out, c, fs)
			return exitOK
		}
		fmt.Fprintf(io.err, "udpcli %s: %s\nRun 'udpcli %s --help' for usage.\n", path, cliflag.ErrorText(err), path)
		return exitUsage
	}
	if c.subs != nil {
		if h := fs.Lookup("help"); h != nil && h.Changed {
			printUsage(io.out, c, fs)
			return exitOK
		}
		if fs.NArg() == 0 {
			return report(io.err, path, usagef("missing subcommand: %s", subNames(c)))
		}
		sub := c.sub(fs.Arg(0))
		if sub == nil {
			return report(io.err, path, usagef("unknown subcommand %q: want %s", fs.Arg(0), subNames(c)))
		}
		return execute(ctx, io, sub, path+" "+sub.name, fs.Args()[1:])
	}
	if !c.status && io.status != nil {
		// No status line to print: the signal means stop, as Ctrl-C.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-io.status:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	err := exec(ctx, io, fs.Args())
	if sw, ok := io.out.(*errwriter.Writer); ok && sw.Err() != nil {
		// The write error stopped the command: run reports it, not the
		// "interrupted" that followed from it.
		return exitFailed
	}
	return report(io.err, path, err)
}

// sub returns c's subcommand name, or nil.
func (c *command) sub(name string) *command {
	for _, s := range c.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// subNames lists c's subcommands for a message: "listen, send or test".
func subNames(c *command) string {
	var names []string
	for _, s := range c.subs {
		names = append(names, s.name)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// report prints err (if any) and maps it to an exit status.
func report(w io.Writer, name string, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "udpcli %s: %v\nRun 'udpcli %s --help' for usage.\n", name, ue, name)
		return exitUsage
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(w, "udpcli %s: %v\n", name, ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(w, "udpcli %s: %v\n", name, err)
	return exitUsage
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// newFlagSet is the flag set of a top-level command.
func newFlagSet(c *command) *pflag.FlagSet { return flagSet(c.name) }

// flagSet is the flag set of the command at path ("mcast listen").
func flagSet(path string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("udpcli "+path, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	// Parse reports errors to us; run prints them with a hint instead of
	// the whole usage text, and --help prints the usage to stdout.
	fs.Usage = func() {}
	return fs
}

// printUsage writes the --help text of c.
func printUsage(w io.Writer, c *command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "%s\n\nFlags:\n", c.usage)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// printHelp writes "udpcli help": help/udpcli.txt with the command list
// in place of its {{commands}} line.
func printHelp(w io.Writer) {
	head, tail, _ := strings.Cut(helpText("udpcli"), "{{commands}}\n")
	fmt.Fprint(w, head)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, tail)
}
