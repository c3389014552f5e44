package main

import (
	"strings"
	"testing"

	"github.com/udpkit/udpkit/internal/cli"
)

// TestSubcommandDispatch: the one dispatcher runs mcast's subcommands as
// it runs commands: their own --help, usage errors under their own name,
// and "help mcast listen" as "mcast listen --help". Nothing is sent: every
// case stops at the flags or the arguments.
func TestSubcommandDispatch(t *testing.T) {
	direct, _, code := runCLI(t, "", "mcast", "listen", "--help")
	if code != cli.ExitOK || !strings.HasPrefix(direct, "Usage: udpcli mcast listen GROUP[:PORT] [flags]") || !strings.Contains(direct, "\n\nFlags:\n") {
		t.Fatalf("mcast listen --help: exit %d\n%s", code, direct)
	}
	if viaHelp, _, code := runCLI(t, "", "help", "mcast", "listen"); code != cli.ExitOK || viaHelp != direct {
		t.Errorf("help mcast listen (exit %d) differs from mcast listen --help:\n%s", code, viaHelp)
	}
	parent, _, _ := runCLI(t, "", "mcast", "--help")
	if viaHelp, _, _ := runCLI(t, "", "help", "mcast", "nosuch"); viaHelp != parent {
		t.Errorf("help mcast nosuch should be mcast's help:\n%s", viaHelp)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mcast"}, "udpcli mcast: missing subcommand: listen, send or test\nRun 'udpcli mcast --help' for usage.\n"},
		{[]string{"mcast", "nosuch"}, "udpcli mcast: unknown subcommand \"nosuch\": want listen, send or test\nRun 'udpcli mcast --help' for usage.\n"},
		{[]string{"mcast", "-x"}, "udpcli mcast: unknown shorthand flag: 'x' in -x\nRun 'udpcli mcast --help' for usage.\n"},
		{[]string{"mcast", "send", "--nosuch"}, "udpcli mcast send: unknown flag: --nosuch\nRun 'udpcli mcast send --help' for usage.\n"},
		{[]string{"mcast", "test"}, "udpcli mcast test: missing GROUP[:PORT]\nRun 'udpcli mcast test --help' for usage.\n"},
	} {
		out, stderr, code := runCLI(t, "", tc.args...)
		if code != cli.ExitUsage || out != "" || stderr != tc.want {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, stderr, tc.want)
		}
	}
}
