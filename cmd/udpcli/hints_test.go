package main

import (
	"net"
	"strings"
	"testing"

	"github.com/udpkit/udpkit/client/clienttest"
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
	} {
		_, stderr, code := runCLI(t, "", tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
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
		if code != exitUsage || !strings.Contains(stderr, "stdin was empty") {
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
	if code != exitFailed || !strings.Contains(stderr, "larger than udpserver accepts by default (1472 bytes") ||
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
