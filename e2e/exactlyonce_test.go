package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// dropReplies drops percent of the datagrams the server on port sends
// (ACKs, NACKs), on the input hook of the namespace's loopback: every
// message reaches the server, and every lost ACK makes the client
// retransmit a message that was already handled.
func (ns *netns) dropReplies(t *testing.T, port, percent int) {
	t.Helper()
	rules := fmt.Sprintf(`table inet e2eackloss {
	chain in {
		type filter hook input priority 0; policy accept;
		udp sport %[1]d numgen random mod 100 < %[2]d counter drop
	}
}
`, port, percent)
	cmd := ns.command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
}

func prefixed(prefix string, n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("%s %05d", prefix, i+1)
	}
	return lines
}

// TestExactlyOnceFastClientACKLoss is issue 13: a pipelined udpcli send at
// its largest window (1024) sends 5000 messages while a quarter (2 %, 30 %)
// of the server's ACKs are lost, so that many messages are retransmitted
// after thousands of others were handled; meanwhile a second socket on the
// same IP sends 10000 messages of its own. Every message is handled
// exactly once: no (sender, ID) and no line twice.
func TestExactlyOnceFastClientACKLoss(t *testing.T) {
	srvBin, cli := build(t)
	for _, loss := range []int{2, 30} {
		t.Run(fmt.Sprintf("%d%%", loss), func(t *testing.T) {
			ns := newNetns(t)
			const port = 9797
			ns.dropReplies(t, port, loss)
			// --rate-limit 0: two senders of one host at full speed are
			// more than the default 10000/s per host.
			srv := startServer(t, ns.command, srvBin, port, "--rate-limit", "0")
			main, other := prefixed("main", 5000), prefixed("other", 10000)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			var wg sync.WaitGroup
			var otherOut, otherErr string
			var otherCode int
			wg.Go(func() {
				otherOut, otherErr, otherCode = sendLines(t, ns.command, cli, other, "--quiet", "--retries", "30", "--timeout", "0.002", "--window", "64", addr)
			})
			out, stderr, code := sendLines(t, ns.command, cli, main, "--json", "--retries", "30", "--timeout", "0.002", "--window", "1024", addr)
			wg.Wait()
			if code != 0 {
				t.Fatalf("udpcli send exit %d, want 0\nstderr: %s", code, stderr)
			}
			if otherCode != 0 {
				t.Fatalf("second udpcli send exit %d, want 0\nstdout: %s\nstderr: %s", otherCode, otherOut, otherErr)
			}
			if got := strings.Count(out, `"status":"acked"`); got != len(main) {
				t.Errorf("%d acked results, want %d", got, len(main))
			}
			retransmitted := strings.Count(out, `"attempts":1,`)
			t.Logf("%d%% ACK loss: %d of %d messages needed more than one attempt", loss, len(main)-retransmitted, len(main))
			srv.stop(t)
			recs := parseRecords(t, srv.stdout.String())
			perExchange := map[string]int{}
			for _, r := range recs {
				if perExchange[r.From+"/"+r.ID]++; perExchange[r.From+"/"+r.ID] == 2 {
					t.Errorf("message %s from %s handled twice (%q)", r.ID, r.From, r.Text)
				}
			}
			checkExactlyOnce(t, recs, append(main, other...))
		})
	}
}
