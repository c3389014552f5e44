package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/internal/cli"
)

func TestDialServerExitStatus(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode int
		wantText string
	}{
		{"bad address", fmt.Errorf("%w %q: no port", client.ErrBadAddress, "foo"), cli.ExitUsage, "Run 'udpcli send --help'"},
		{"unknown host", fmt.Errorf("%w %q: no such host", client.ErrBadAddress, "nosuch.test:9797"), cli.ExitUsage, "no such host"},
		{"no route", fmt.Errorf("client: dial udp 10.99.0.1:9797: connect: %w", syscall.ENETUNREACH), cli.ExitFailed, "network is unreachable"},
		{"all refused", fmt.Errorf("%w: nothing listening on localhost:9797", client.ErrRefused), cli.ExitFailed, "nothing listening"},
		{"interrupted", fmt.Errorf("client: dial x: %w", context.Canceled), cli.ExitFailed, "interrupted"},
	}
	t.Cleanup(func() { dial = client.Dial })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dial = func(context.Context, string, client.Config) (*client.Client, error) { return nil, tt.err }
			for _, cmd := range []string{"send", "ping"} {
				_, stderr, code := runCLI(t, "", cmd, "server.test:9797", "x")
				if cmd == "ping" {
					_, stderr, code = runCLI(t, "", cmd, "server.test:9797")
				}
				if code != tt.wantCode {
					t.Errorf("%s: exit %d, want %d; stderr %q", cmd, code, tt.wantCode, stderr)
				}
				want := strings.ReplaceAll(tt.wantText, "send", cmd)
				if !strings.Contains(stderr, want) {
					t.Errorf("%s: stderr %q lacks %q", cmd, stderr, want)
				}
				if hint := strings.Contains(stderr, "--help"); hint != (tt.wantCode == cli.ExitUsage) {
					t.Errorf("%s: stderr %q: usage hint %v, want %v", cmd, stderr, hint, !hint)
				}
			}
		})
	}
	dial = client.Dial
	if _, err := dial(context.Background(), "foo", client.Config{}); !errors.Is(err, client.ErrBadAddress) {
		t.Errorf("client.Dial(\"foo\") = %v, want ErrBadAddress", err)
	}
}

func TestFlagErrorText(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"send", "--retries", "abc", "h:1"}, `udpcli send: --retries "abc": not a whole number: want e.g. 3`},
		{[]string{"send", "--retries", "99999999999999999999", "h:1"}, `--retries "99999999999999999999": too large a number`},
		{[]string{"send", "-w", "1.5", "h:1"}, `-w/--window "1.5": not a whole number`},
		{[]string{"ping", "-c", "abc", "h:1"}, `udpcli ping: -c/--count "abc": not a whole number: want e.g. 3`},
		{[]string{"send", "--timeout", "-1", "h:1"}, `-W/--timeout "-1": negative: want 0 or more seconds (0.5) or a duration (200ms)`},
		{[]string{"send", "--timeout", "1e9", "h:1"}, `-W/--timeout "1e9": too long: want at most 1e+06 seconds`},
		{[]string{"send", "--timeout", "NaN", "h:1"}, `-W/--timeout "NaN": not a number of seconds`},
		{[]string{"ping", "-i", "soon", "h:1"}, `-i/--interval "soon": not a duration: want seconds (0.5)`},
		{[]string{"send", "--json=maybe", "h:1"}, `--json "maybe": want true or false`},
		{[]string{"send", "--nosuch", "h:1"}, `unknown flag: --nosuch`},
		{[]string{"discover", "-t", "soon"}, `-t/--deadline "soon": not a duration: want seconds (0.5) or a duration with a unit (200ms)`},
	}
	for _, tt := range tests {
		_, stderr, code := runCLI(t, "", tt.args...)
		if code != cli.ExitUsage || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "--help' for usage") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", tt.args, code, stderr, tt.want)
		}
		for _, raw := range []string{"strconv", "invalid syntax", "invalid argument"} {
			if strings.Contains(stderr, raw) {
				t.Errorf("%q: stderr %q shows Go's wording %q", tt.args, stderr, raw)
			}
		}
	}
}
