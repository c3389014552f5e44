package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// testProgram has a command that echoes, one that fails as asked, and one
// with subcommands.
func testProgram() *Program {
	p := &Program{Name: "tool", Help: "tool: test.\n\nCommands:\n{{commands}}\nEnd.\n", Version: "tool 1.0"}
	fail := &Command{Name: "fail", Summary: "fail as asked", Usage: "Usage: tool fail [flags]",
		Setup: func(fs *pflag.FlagSet) func(context.Context, IO, []string) error {
			code := fs.Int("code", 0, "exit status")
			usage := fs.Bool("usage", false, "a usage error")
			return func(ctx context.Context, io IO, args []string) error {
				switch {
				case *usage:
					return Usagef("bad %s", "input")
				case *code == 1:
					return Failed(errors.New("no answer"))
				case *code == 1000:
					return errors.New("plain")
				case *code > 0:
					return &ExitError{Code: *code}
				}
				return nil
			}
		}}
	echo := &Command{Name: "echo", Summary: "print the arguments", Usage: "Usage: tool echo [-n] WORD...",
		Setup: func(fs *pflag.FlagSet) func(context.Context, IO, []string) error {
			n := fs.BoolP("no-newline", "n", false, "no final newline")
			return func(ctx context.Context, io IO, args []string) error {
				s := strings.Join(args, " ")
				if !*n {
					s += "\n"
				}
				_, err := io.Out.Write([]byte(s))
				return err
			}
		}}
	leaf := func(name string) *Command {
		return &Command{Name: name, Summary: name + " it", Usage: "Usage: tool grp " + name,
			Setup: func(fs *pflag.FlagSet) func(context.Context, IO, []string) error {
				fs.Bool("x", false, "x")
				return func(ctx context.Context, io IO, args []string) error {
					_, err := io.Out.Write([]byte(name + ":" + strings.Join(args, ",") + "\n"))
					return err
				}
			}}
	}
	grp := &Command{Name: "grp", Summary: "a group", Usage: "Usage: tool grp SUB",
		Setup: func(fs *pflag.FlagSet) func(context.Context, IO, []string) error {
			fs.BoolP("help", "h", false, "help")
			return nil
		},
		Subs: []*Command{leaf("a"), leaf("b"), leaf("c")}}
	p.Commands = []*Command{echo, grp, fail} // the order of the help
	return p
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		args             []string
		code             int
		stdout, stderrIs string
	}{
		{nil, ExitUsage, "", "tool: test.\n\nCommands:\n  echo      print the arguments\n  grp       a group\n  fail      fail as asked\nEnd.\n"},
		{[]string{"help"}, ExitOK, "tool: test.\n\nCommands:\n  echo      print the arguments\n  grp       a group\n  fail      fail as asked\nEnd.\n", ""},
		{[]string{"--version"}, ExitOK, "tool 1.0\n", ""},
		{[]string{"echo", "a", "-n", "b"}, ExitOK, "a b", ""},
		{[]string{"echo", "--", "-n"}, ExitOK, "-n\n", ""},
		{[]string{"echo", "--help"}, ExitOK, "Usage: tool echo [-n] WORD...\n\nFlags:\n  -n, --no-newline   no final newline\n", ""},
		{[]string{"help", "echo"}, ExitOK, "Usage: tool echo [-n] WORD...\n\nFlags:\n  -n, --no-newline   no final newline\n", ""},
		{[]string{"help", "nosuch"}, ExitUsage, "", "tool: unknown command \"nosuch\"; run 'tool help' for the list\n"},
		{[]string{"nosuch"}, ExitUsage, "", "tool: unknown command \"nosuch\"; run 'tool help' for the list\n"},
		{[]string{"echo", "--bad"}, ExitUsage, "", "tool echo: unknown flag: --bad\nRun 'tool echo --help' for usage.\n"},
		{[]string{"fail"}, ExitOK, "", ""},
		{[]string{"fail", "--usage"}, ExitUsage, "", "tool fail: bad input\nRun 'tool fail --help' for usage.\n"},
		{[]string{"fail", "--code", "1"}, ExitFailed, "", "tool fail: no answer\n"},
		{[]string{"fail", "--code", "3"}, 3, "", ""},
		{[]string{"fail", "--code", "1000"}, ExitUsage, "", "tool fail: plain\n"},
		{[]string{"grp"}, ExitUsage, "", "tool grp: missing subcommand: a, b or c\nRun 'tool grp --help' for usage.\n"},
		{[]string{"grp", "z"}, ExitUsage, "", "tool grp: unknown subcommand \"z\": want a, b or c\nRun 'tool grp --help' for usage.\n"},
		{[]string{"grp", "b", "1", "--x", "2"}, ExitOK, "b:1,2\n", ""},
		{[]string{"grp", "b", "--bad"}, ExitUsage, "", "tool grp b: unknown flag: --bad\nRun 'tool grp b --help' for usage.\n"},
		{[]string{"grp", "-h"}, ExitOK, "Usage: tool grp SUB\n\nFlags:\n  -h, --help   help\n", ""},
		{[]string{"help", "grp", "a"}, ExitOK, "Usage: tool grp a\n\nFlags:\n      --x   x\n", ""},
		{[]string{"help", "grp", "nosuch"}, ExitOK, "Usage: tool grp SUB\n\nFlags:\n  -h, --help   help\n", ""},
	} {
		var out, errb bytes.Buffer
		code := testProgram().Run(context.Background(), tc.args, IO{Out: &out, Err: &errb})
		if code != tc.code || out.String() != tc.stdout || errb.String() != tc.stderrIs {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderrIs)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestRunWriteError: a failed write to stdout is status 1 with the error,
// not the command's own outcome.
func TestRunWriteError(t *testing.T) {
	var errb bytes.Buffer
	code := testProgram().Run(context.Background(), []string{"echo", "hi"}, IO{Out: failWriter{}, Err: &errb})
	if code != ExitFailed || errb.String() != "tool echo: cannot write the output: no space left on device\n" {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// TestExitError: the error a command returns stays errors.Is-able.
func TestExitError(t *testing.T) {
	base := errors.New("x")
	err := Failed(base)
	var ee *ExitError
	if !errors.Is(err, base) || !errors.As(err, &ee) || ee.Code != ExitFailed || err.Error() != "x" {
		t.Errorf("Failed(x) = %v", err)
	}
	if s := (&ExitError{Code: 4}).Error(); s != "exit status 4" {
		t.Errorf("ExitError{4}.Error() = %q", s)
	}
}

func TestHelpAlignsLongNames(t *testing.T) {
	p := &Program{Name: "tool", Help: "{{commands}}\n", Commands: []*Command{
		{Name: "a", Summary: "short"}, {Name: "completion", Summary: "long"},
	}}
	var b strings.Builder
	p.PrintHelp(&b)
	if want := "  a           short\n  completion  long\n"; b.String() != want {
		t.Errorf("help %q, want %q", b.String(), want)
	}
}
