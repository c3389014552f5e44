package main

import (
	"net"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/client/clienttest"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/completion"
	"github.com/udpkit/udpkit/udpserver"
)

// TestAddressHints: the everyday address mistakes are usage errors that
// say what was meant, and never reach the network.
func TestAddressHints(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"ping", "127.0.0.1", "9797"}, "such as 127.0.0.1:9797"},
		{[]string{"ping", "::1", "9797"}, "such as [::1]:9797"},
		{[]string{"send", "127.0.0.1", "9797", "hi"}, "did you mean 127.0.0.1:9797?"},
		{[]string{"send", "localhost", "9797"}, "did you mean localhost:9797?"},
		{[]string{"ping", "[ff02::1:5000]:9797"}, "ff02::1:5000 is a multicast group"},
		{[]string{"send", "239.1.2.3:5000", "x"}, "239.1.2.3 is a multicast group"},
		{[]string{"ping", "::1:9797"}, "IPv6 addresses need brackets"},
		{[]string{"ping", "127.0.0.1:99999"}, "not a number from 1 to 65535"},
		{[]string{"bench", "::1:9797"}, "IPv6 addresses need brackets"},
		{[]string{"bench", "127.0.0.1:99999"}, "not a number from 1 to 65535"},
		{[]string{"bench", "127.0.0.1", "9797"}, "such as 127.0.0.1:9797"},
		{[]string{"bench", "239.1.2.3:9797"}, "239.1.2.3 is a multicast group"},
	} {
		_, stderr, code := runCLI(t, "", tt.args...)
		if code != cli.ExitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
	if hint := splitPortHint([]string{"127.0.0.1:9797", "5"}); hint != "" {
		t.Errorf("a HOST:PORT and a message got the hint %q", hint)
	}
}

// TestSendEmptyStdin: nothing to send is a usage error, not a silent
// success.
func TestSendEmptyStdin(t *testing.T) {
	r := responder(t, "127.0.0.1:0", clienttest.Behavior{})
	for _, args := range [][]string{{"send", r.Addr()}, {"send", r.Addr(), "-"}} {
		_, stderr, code := runCLI(t, "", args...)
		if code != cli.ExitUsage || !strings.Contains(stderr, "stdin was empty") {
			t.Errorf("%q: exit %d, %q", args, code, stderr)
		}
	}
	// A message that starts with "-" is sent after "--".
	out, stderr, code := runCLI(t, "", "send", r.Addr(), "--", "-5")
	if code != 0 || !strings.Contains(out, "1: acked") {
		t.Errorf("send -- -5: exit %d, %q %q", code, out, stderr)
	}
}

// TestPingOversized: a PING larger than udpserver takes says why no reply
// comes, before and after.
func TestPingOversized(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	s := &udpserver.Server{}
	go s.Serve(pc)
	defer s.Close()
	_, stderr, code := runCLI(t, "", "ping", "-c", "1", "-W", "0.2", "-s", "2000", pc.LocalAddr().String())
	if code != cli.ExitFailed || !strings.Contains(stderr, "larger than udpserver accepts by default (1472 bytes") ||
		!strings.Contains(stderr, "try -s 1456 or less") {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
	if st := s.Stats(); st.Oversized != 1 {
		t.Errorf("server saw %d oversized datagrams, want 1", st.Oversized)
	}
}

// TestSendFlagLetters: -W is the per-try timeout as in ping; the earlier
// letters -t and -w still work (aliases) and are not in --help.
func TestSendFlagLetters(t *testing.T) {
	r := responder(t, "127.0.0.1:0", clienttest.Behavior{})
	for _, args := range [][]string{{"-W", "0.2"}, {"-t", "0.2"}, {"--window", "4"}, {"-w", "4"}} {
		_, stderr, code := runCLI(t, "a\nb\n", append(append([]string{"send"}, args...), r.Addr())...)
		if code != 0 {
			t.Errorf("send %v: exit %d %s", args, code, stderr)
		}
	}
	help, _, _ := runCLI(t, "", "send", "--help")
	if !strings.Contains(help, "-W, --timeout") || strings.Contains(help, "-t,") || strings.Contains(help, "-w,") {
		t.Errorf("send --help:\n%s", help)
	}
}

// TestDiscoverFlags: discover's time flag takes seconds and durations, as
// every time flag; -w and -c are ping's letters, -t, --timeout and -n the
// old spellings. Only parsed: running discover would broadcast.
func TestDiscoverFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-w", "0.3", "-c", "2", "-q"},
		{"-t", "0.3", "-n", "2", "-q"},
		{"--timeout", "300ms", "--count", "2", "--quiet"},
		{"--deadline", "0.3", "-c2", "-q"},
	} {
		c := app.Lookup("discover")
		fs := app.FlagSet(c.Name)
		c.Setup(fs)
		if err := fs.Parse(args); err != nil {
			t.Errorf("%v: %v", args, err)
			continue
		}
		if d := fs.Lookup("deadline").Value.String(); d != "0.3" {
			t.Errorf("%v: deadline %s", args, d)
		}
		if n := fs.Lookup("count").Value.String(); n != "2" {
			t.Errorf("%v: count %s", args, n)
		}
	}
}

// TestIfacesFlag: ifaces takes -I SPEC as the other commands do, as well
// as positional SPECs.
func TestIfacesFlag(t *testing.T) {
	a, _, codeA := runCLI(t, "", "ifaces", "-I", "lo")
	b, _, codeB := runCLI(t, "", "ifaces", "lo")
	if codeA != 0 || a != b || !strings.Contains(a, "lo ") {
		t.Errorf("ifaces -I lo (exit %d):\n%s\nifaces lo (exit %d):\n%s", codeA, a, codeB, b)
	}
}

// TestEveryTimeFlag: every time flag of every command takes 5, 0.05 and
// 50ms (parsed only: the commands are not run).
func TestEveryTimeFlag(t *testing.T) {
	n := 0
	for _, c := range completion.Flatten(program().Commands) {
		c.Flags.VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() != "seconds" || f.Hidden {
				return
			}
			n++
			for _, v := range []string{"5", "0.05", "50ms"} {
				if err := f.Value.Set(v); err != nil {
					t.Errorf("%s --%s %s: %v", c.Name, f.Name, v, err)
				}
			}
		})
	}
	// ping -i -W -w, send -W, discover -w, bench -d -W, mcast listen -w,
	// mcast send -i, mcast test -i --wait.
	if n < 11 {
		t.Errorf("only %d time flags found", n)
	}
	c := app.Lookup("ping")
	fs := app.FlagSet(c.Name)
	c.Setup(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Value.Type() == "float64" {
			t.Errorf("ping --%s is a float flag, not seconds", f.Name)
		}
	})
}
