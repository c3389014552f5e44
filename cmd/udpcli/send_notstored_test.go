package main

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"
)

// A server whose storage does not confirm (udpserver --forward with the
// broker down) NACKs busy with wire.ReasonNotStored: the failed lines and
// the hint name storage, not the exactly-once share.
func TestSendNotStoredHint(t *testing.T) {
	srv := &udpserver.Server{Handler: udpserver.HandlerFunc(func(context.Context, *udpserver.Request) error {
		return udpserver.Reject(wire.CodeBusy, wire.ReasonNotStored)
	})}
	pc, err := udpserver.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(pc)
	t.Cleanup(func() { srv.Close() })
	addr := pc.LocalAddr().(*net.UDPAddr).String()

	out, errOut, code := runCLI(t, "reading number one\nreading number two\n", "send", "--retries", "1", "-t", "0.01", addr)
	if code != 1 || !strings.Contains(errOut, "2 lines: 0 acknowledged, 2 failed") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if n := strings.Count(errOut, "hint:"); n != 1 || !strings.Contains(errOut, "storage did not confirm") || strings.Contains(errOut, "exactly-once share") {
		t.Errorf("want one hint naming storage, not the share; stderr %q", errOut)
	}
	failed := grepLines(out, "failed:")
	if strings.Count(failed, "\n") != 2 || !strings.Contains(failed, "storage did not confirm the message after 2 tries") || strings.Contains(failed, "exactly-once share") {
		t.Errorf("failed lines:\n%s", failed)
	}
}
