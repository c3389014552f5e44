package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/wire"
)

const (
	mBusyFull = `udpkit_dedup_busy_total{cause="full"}`

	spoofedSources = 5000
	// Under the default cookie budget (2000/s): at the attacker's 3000/s
	// the forgeries win a third of the cookies' moments too, and a fresh
	// client process may draw busy on each of its 6 tries (SECURITY.md).
	spoofedPerSecond  = 1500
	spoofedBody       = "spoofed reading from one of many forged source addresses" // 56 bytes: a 72-byte DATA
	spoofedTableEntry = 4096                                                       // --dedup-entries: the claimed part (3072) fills in ~1 s
)

// startSpoofer is startForger with many forged hosts: a raw socket in ns
// sends spoofedPerSecond new DATA to dst, each from one of spoofedSources
// addresses of 127.16.0.0/16 (random port), so that each source stays far
// under its rate limit and its shares of the de-duplication table.
func startSpoofer(t *testing.T, ns *netns, dst netip.AddrPort) *forger {
	t.Helper()
	var fd int
	if err := ns.do(func() (err error) {
		fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
		return err
	}); err != nil {
		t.Skipf("skipping: no raw socket in the namespace: %v", err)
	}
	f := &forger{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer syscall.Close(fd)
		to := &syscall.SockaddrInet4{Addr: dst.Addr().As4()}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		var pkt, data []byte
		for n := 0; ; {
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
			for due := int(time.Since(start).Seconds() * spoofedPerSecond); n < due; n++ {
				i := rand.IntN(spoofedSources)
				src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 16, byte(i >> 8), byte(i)}), uint16(1024+rand.IntN(64512)))
				data = wire.AppendData(data[:0], rand.Uint64(), []byte(spoofedBody))
				pkt = netlab.AppendUDP4(pkt[:0], src, dst, data)
				if err := syscall.Sendto(fd, pkt, 0, to); err != nil && !errors.Is(err, syscall.ENOBUFS) {
					f.err = err
					return
				}
				f.sent.Add(1)
			}
		}
	}()
	t.Cleanup(f.halt)
	return f
}

// TestSpoofedTableNoLockout is the attacker's check of the de-duplication
// table's cap (PROTOCOL.md 3, 3.1; SECURITY.md "Floods"): the real
// udpserver in a namespace at its default rate limit and shares, a small
// --dedup-entries (4096, so the check takes seconds, not the 90 s the
// default 262144 takes at this rate), and a raw socket sending 72-byte
// DATA from 5000 spoofed 127.16.x.y addresses at 1500/s all along: each
// source is far under its rate limit and shares, so the server handles
// them all and they fill the table's claimed part (3/4). Then fresh
// clients (udpcli send, and the C and Python device examples) each get a
// cookie NACK instead of NACK busy "table full", echo it, go into the
// proved quarter and are acknowledged, each message handled once. Before
// the claimed part, the forgeries filled the whole table and every client
// failed with "busy … table full" after its 6 tries.
func TestSpoofedTableNoLockout(t *testing.T) {
	srvBin, cli := build(t)
	devices := append([]device{{"udpcli", []string{cli, "send"}}}, deviceExamples(t)...)
	ns := newNetns(t)
	const port = 9797
	dst := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port))
	srv := startServer(t, ns.command, srvBin, port, "--no-announce", "--dedup-entries", strconv.Itoa(spoofedTableEntry),
		"--metrics", "127.0.0.1:0")
	url := metricsURL(t, srv)
	f := startSpoofer(t, ns, dst)
	waitMetric(t, ns, url, "the table's claimed part full", func(m map[string]float64) bool {
		return m[mShareCookies]+m[mBusyFull] >= 50
	})
	var want []string
	for _, d := range devices {
		for i := range 3 {
			msg := fmt.Sprintf("%s reading %d under a full claimed part", d.name, i)
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
				t.Fatalf("%s, run %d, under %d spoofed datagrams: %v: %s", d.name, i+1, f.sent.Load(), err, out)
			}
			after := waitMetric(t, ns, url, d.name+"'s cookie echo", func(m map[string]float64) bool {
				return m[mCookiesValid] > before[mCookiesValid]
			})
			t.Logf("%s run %d: %s in %v (table cookies sent %v, busy table full %v, valid echoes %v)", d.name, i+1,
				strings.TrimSpace(string(out)), time.Since(start).Round(time.Millisecond), after[mShareCookies], after[mBusyFull], after[mCookiesValid])
		}
	}
	f.halt()
	if f.err != nil {
		t.Fatalf("spoofer: %v", f.err)
	}
	m := nsMetrics(t, ns, url)
	t.Logf("%d spoofed datagrams; server: table cookies %v, busy table full %v, valid echoes %v", f.sent.Load(),
		m[mShareCookies], m[mBusyFull], m[mCookiesValid])
	srv.stop(t)
	var recs []record
	for _, r := range parseRecords(t, srv.stdout.String()) {
		if r.Text != spoofedBody {
			recs = append(recs, r)
		}
	}
	checkExactlyOnce(t, recs, want)
}
