package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

const (
	mShareCookies = `udpkit_cookies_total{event="share_full"}`
	mBusyHost     = `udpkit_dedup_busy_total{cause="host"}`
)

// TestForgedHostShareNoLockout is issue 14's "datagrams forged with its IP
// do not lock it out" for the de-duplication table (PROTOCOL.md 3, 3.1):
// the real udpserver in a namespace, a rate limit every forgery passes,
// and a raw socket forging 1000 new DATA a second with 127.0.0.1 from
// random ports all along, so the forgeries are handled and fill the host
// share 127.0.0.1 claims (--dedup-per-host 300 here, 65536 by default:
// the same at the default --rate-limit 10000/s after ~6.5 s). Then fresh
// clients on 127.0.0.1 (udpcli send, and the C and Python device
// examples) each get a cookie NACK instead of NACK busy "host share
// full", echo it, are counted in the proved shares and are acknowledged,
// each message handled once. Before proved shares, each of them failed
// with "busy" after its 6 tries.
func TestForgedHostShareNoLockout(t *testing.T) {
	srvBin, cli := build(t)
	devices := append([]device{{"udpcli", []string{cli, "send"}}}, deviceExamples(t)...)
	ns := newNetns(t)
	const port = 9797
	dst := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port))
	srv := startServer(t, ns.command, srvBin, port, "--no-announce", "--rate-limit", "1000000/s", "--dedup-per-host", "300",
		"--metrics", "127.0.0.1:0")
	url := metricsURL(t, srv)
	f := startForger(t, ns, netip.MustParseAddr("127.0.0.1"), dst, func(int) []byte {
		return wire.AppendData(nil, rand.Uint64(), []byte(forgedBody))
	})
	waitMetric(t, ns, url, "the forged host share full", func(m map[string]float64) bool {
		return m[mShareCookies]+m[mBusyHost] >= 50
	})
	var want []string
	for _, d := range devices {
		for i := range 3 {
			msg := fmt.Sprintf("%s reading %d under a full host share", d.name, i)
			want = append(want, msg)
			before := nsMetrics(t, ns, url)
			argv := append(append([]string(nil), d.argv[1:]...), "127.0.0.1", strconv.Itoa(port), msg)
			if d.name == "udpcli" {
				argv = append(append([]string(nil), d.argv[1:]...), dst.String(), msg)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			start := time.Now()
			out, err := ns.command(ctx, d.argv[0], argv...).CombinedOutput()
			cancel()
			if err != nil || !strings.Contains(strings.ToLower(string(out)), "acked") {
				t.Fatalf("%s, run %d, under %d forged datagrams: %v: %s", d.name, i+1, f.sent.Load(), err, out)
			}
			after := waitMetric(t, ns, url, d.name+"'s cookie echo", func(m map[string]float64) bool {
				return m[mCookiesValid] > before[mCookiesValid]
			})
			t.Logf("%s run %d: %s in %v (share cookies sent %v, valid echoes %v)", d.name, i+1, strings.TrimSpace(string(out)),
				time.Since(start).Round(time.Millisecond), after[mShareCookies], after[mCookiesValid])
		}
	}
	f.halt()
	if f.err != nil {
		t.Fatalf("forger: %v", f.err)
	}
	m := nsMetrics(t, ns, url)
	t.Logf("%d forged datagrams; server: share cookies %v, busy (host share) %v, valid echoes %v", f.sent.Load(),
		m[mShareCookies], m[mBusyHost], m[mCookiesValid])
	srv.stop(t)
	var recs []record
	for _, r := range parseRecords(t, srv.stdout.String()) {
		if r.Text != forgedBody {
			recs = append(recs, r)
		}
	}
	checkExactlyOnce(t, recs, want)
}
