package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/wire"
)

// do runs fn on an OS thread that has entered the namespace, then returns
// the thread to this process's namespace: sockets fn opens stay in the
// namespace for their whole life and may be used from any goroutine.
func (ns *netns) do(fn func() error) error {
	target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", ns.pid))
	if err != nil {
		return err
	}
	defer target.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns back: %w", err) // the thread stays locked and dies with us
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// nsMetrics scrapes the server's metrics inside the namespace (the URL
// is on the namespace's loopback): the samples by name and labels.
func nsMetrics(t *testing.T, ns *netns, url string) map[string]float64 {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
			err = ns.do(func() error {
				conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		},
		DisableKeepAlives: true,
	}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", l)
		}
		m[l[:i]] = v
	}
	return m
}

// waitMetric polls the metrics until cond holds for them (the server
// publishes its counters after each batch, a moment after it replied).
func waitMetric(t *testing.T, ns *netns, url, what string, cond func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := nsMetrics(t, ns, url)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen in the server's metrics within 5 s:\n%v", what, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const (
	mCookiesSent    = `udpkit_cookies_total{event="sent"}`
	mCookiesValid   = `udpkit_cookies_total{event="valid"}`
	mRateLimited    = `udpkit_rate_limited_datagrams_total`
	mUnauthed       = `udpkit_datagrams_dropped_total{reason="unauthenticated"}`
	mBadTag         = `udpkit_datagrams_dropped_total{reason="bad_tag"}`
	forgedPerSecond = 1000
	forgedBody      = "forged reading!!" // 16 bytes: a 32-byte DATA, long enough to draw a cookie
)

// forger floods a server inside a namespace with DATA forged with a
// victim's IPv4 address, from random ports, through a raw socket: the
// attacker of issue 14's check "datagrams forged with its IP do not lock
// it out". payload builds the n-th forgery.
type forger struct {
	stop chan struct{}
	done chan struct{}
	sent atomic.Int64
	err  error
}

func startForger(t *testing.T, ns *netns, victim netip.Addr, dst netip.AddrPort, payload func(n int) []byte) *forger {
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
		var pkt []byte
		for n := 0; ; {
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
			// Catch up to the rate after a stall, so the victim's bucket
			// never refills.
			for due := int(time.Since(start).Seconds() * forgedPerSecond); n < due; n++ {
				src := netip.AddrPortFrom(victim, uint16(1024+rand.IntN(64512)))
				pkt = netlab.AppendUDP4(pkt[:0], src, dst, payload(n))
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

func (f *forger) halt() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
}

// TestDeviceExamplesForgedFlood is issue 14's "datagrams forged with its
// IP do not lock it out" for the C and Python device examples, against
// the real udpserver in a namespace. The server's rate limit is one
// datagram per 100 s with a burst of 20, and a raw socket forges 1000
// DATA a second with the devices' address (127.0.0.1) from random ports
// all the while: the first 20 forgeries empty the bucket the devices'
// address is counted in, and it stays empty. Then:
//
//   - plain: every run of each example is acknowledged, and each run drew
//     a cookie NACK and echoed a valid cookie (the server's counters go up
//     by at least one per run); the server handled each message once. A
//     client that does not echo (the control, written here) gets cookie
//     NACKs and no ACK: that is what the examples did before they echoed
//     (removing the echo from either example fails this test).
//   - keyed (--key-file on both ends; PROTOCOL.md section 5): the server
//     counts an authenticated client by its key and sender ID, sends no
//     cookies, and drops every forgery (unauthenticated, or sealed with a
//     wrong secret under the right key ID) before any table: every run is
//     acknowledged.
func TestDeviceExamplesForgedFlood(t *testing.T) {
	srvBin, _ := build(t)
	devices := deviceExamples(t)
	for _, keyed := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "keyed"}[keyed]
		t.Run(name, func(t *testing.T) {
			ns := newNetns(t)
			const port = 9797
			dst := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port))
			args := []string{"--no-announce", "--rate-limit", "0.01/s", "--rate-burst", "20", "--metrics", "127.0.0.1:0"}
			var keyArgs []string
			forge := func(n int) []byte { return wire.AppendData(nil, rand.Uint64(), []byte(forgedBody)) } // 32 bytes: draws a cookie
			if keyed {
				path, _ := writeKey(t, "devices.key", 7)
				args = append(args, "--key-file", path)
				keyArgs = []string{"--key-file", path}
				// A secret nobody else has, under the devices' key ID.
				wrong, _ := writeKey(t, "wrong.key", 7)
				kr, err := auth.LoadFile(wrong)
				if err != nil {
					t.Fatal(err)
				}
				signer, err := auth.NewSender(kr, auth.SenderConfig{})
				if err != nil {
					t.Fatal(err)
				}
				plainForge := forge
				forge = func(n int) []byte {
					if n%2 == 0 {
						return plainForge(n)
					}
					b, err := signer.SignWith(plainForge(n), 7)
					if err != nil {
						panic(err)
					}
					return b
				}
			}
			srv := startServer(t, ns.command, srvBin, port, args...)
			url := metricsURL(t, srv)
			f := startForger(t, ns, netip.MustParseAddr("127.0.0.1"), dst, forge)
			if keyed {
				waitMetric(t, ns, url, "forgeries dropped", func(m map[string]float64) bool { return m[mUnauthed] >= 50 && m[mBadTag] >= 50 })
			} else {
				waitMetric(t, ns, url, "forgeries over the rate limit", func(m map[string]float64) bool { return m[mRateLimited] >= 50 })
			}

			var want []string
			for _, d := range devices {
				for i := range 3 {
					msg := fmt.Sprintf("%s %s device reading %d", name, d.name, i)
					want = append(want, msg)
					before := nsMetrics(t, ns, url)
					argv := append(append(append([]string(nil), d.argv[1:]...), keyArgs...), "127.0.0.1", strconv.Itoa(port), msg)
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					out, err := ns.command(ctx, d.argv[0], argv...).CombinedOutput()
					cancel()
					if err != nil || !strings.HasPrefix(string(out), "acked") {
						t.Fatalf("%s example, run %d, under %d forged datagrams: %v: %s", d.name, i+1, f.sent.Load(), err, out)
					}
					if !keyed {
						after := waitMetric(t, ns, url, d.name+" example's cookie echo", func(m map[string]float64) bool {
							return m[mCookiesValid] > before[mCookiesValid]
						})
						t.Logf("%s run %d: %s (cookies sent %v, valid %v)", d.name, i+1, strings.TrimSpace(string(out)),
							after[mCookiesSent], after[mCookiesValid])
					} else {
						t.Logf("%s run %d: %s", d.name, i+1, strings.TrimSpace(string(out)))
					}
				}
			}
			if !keyed {
				nonEchoingControl(t, ns, dst)
			}
			f.halt()
			if f.err != nil {
				t.Fatalf("forger: %v", f.err)
			}
			m := nsMetrics(t, ns, url)
			t.Logf("%d forged datagrams; server: rate limited %v, cookies sent %v valid %v, unauthenticated %v, bad tag %v",
				f.sent.Load(), m[mRateLimited], m[mCookiesSent], m[mCookiesValid], m[mUnauthed], m[mBadTag])
			if keyed && (m[mCookiesSent] != 0 || m[mCookiesValid] != 0) {
				t.Errorf("keyed server sent %v cookies, counted %v valid; want none (cookies are never used with AUTH)", m[mCookiesSent], m[mCookiesValid])
			}
			srv.stop(t)
			// Without keys the bucket's burst lets the first 20 forgeries
			// through (a forger can always spend a burst); with keys none.
			var recs []record
			forgedHandled := 0
			for _, r := range parseRecords(t, srv.stdout.String()) {
				if r.Text == forgedBody {
					forgedHandled++
				} else {
					recs = append(recs, r)
				}
			}
			if limit := map[bool]int{false: 20, true: 0}[keyed]; forgedHandled > limit {
				t.Errorf("server handled %d forgeries, want at most %d", forgedHandled, limit)
			}
			checkExactlyOnce(t, recs, want)
		})
	}
}

// nonEchoingControl sends one DATA from 127.0.0.1 inside the namespace as
// a client that does not know cookies would (PROTOCOL.md 3.1,
// "Compatibility": it drops the cookie NACK and retransmits), 6 copies
// 300 ms apart, and fails the test unless it got cookie NACKs and no ACK:
// the flood does lock out a device that does not echo.
func nonEchoingControl(t *testing.T, ns *netns, dst netip.AddrPort) {
	t.Helper()
	var c *net.UDPConn
	if err := ns.do(func() (err error) {
		c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := rand.Uint64()
	req := wire.AppendData(nil, id, []byte("reading of a device without cookies"))
	acks, cookies := 0, 0
	buf := make([]byte, 2048)
	for range 6 {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			n, err := c.Read(buf)
			if err != nil {
				break // the deadline
			}
			h, _, err := wire.Parse(buf[:n])
			if err != nil || h.ID != id {
				continue
			}
			switch {
			case h.Type == wire.TypeAck:
				acks++
			case h.Type == wire.TypeNack && h.Flags&wire.FlagCookie != 0:
				cookies++
			}
		}
	}
	t.Logf("control without cookie echo: %d ACKs, %d cookie NACKs for 6 copies", acks, cookies)
	if acks != 0 || cookies == 0 {
		t.Errorf("control without cookie echo got %d ACKs and %d cookie NACKs; want 0 ACKs, some cookie NACKs (else the test does not force cookies)", acks, cookies)
	}
}
