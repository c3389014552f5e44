package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/udpkit/udpkit/client"
)

func TestDialServerExitStatus(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode int
		wantText string
	}{
		{"bad address", fmt.Errorf("%w %q: no port", client.ErrBadAddress, "foo"), exitUsage, "Run 'udpcli send --help'"},
		{"unknown host", fmt.Errorf("%w %q: no such host", client.ErrBadAddress, "nosuch.test:9797"), exitUsage, "no such host"},
		{"no route", fmt.Errorf("client: dial udp 10.99.0.1:9797: connect: %w", syscall.ENETUNREACH), exitFailed, "network is unreachable"},
		{"all refused", fmt.Errorf("%w: nothing listening on localhost:9797", client.ErrRefused), exitFailed, "nothing listening"},
		{"interrupted", fmt.Errorf("client: dial x: %w", context.Canceled), exitFailed, "interrupted"},
	}
	t.Cleanup(func() { dial = client.Dial })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dial = func(context.Context, string, *client.Config) (*client.Client, error) { return nil, tt.err }
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
				if hint := strings.Contains(stderr, "--help"); hint != (tt.wantCode == exitUsage) {
					t.Errorf("%s: stderr %q: usage hint %v, want %v", cmd, stderr, hint, !hint)
				}
			}
		})
	}
	dial = client.Dial
	if _, err := dial(context.Background(), "foo", nil); !errors.Is(err, client.ErrBadAddress) {
		t.Errorf("client.Dial(\"foo\") = %v, want ErrBadAddress", err)
	}
}
