package mdns

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	hmdns "github.com/hashicorp/mdns"
	"github.com/udpkit/udpkit/internal/netlab"
)

// TestLabBrowseComparison measures, on an 11-host namespace LAN with ten
// Responders (what udpserver --mdns runs), how long three browsers take to
// resolve all ten instances of _udpkit._udp: this package's Browser,
// Avahi (avahi-browse -rp on a freshly started avahi-daemon, so its cache
// is cold) and hashicorp/mdns (Query, one per run). BENCHMARKS.md holds
// the figures. It takes minutes, so it runs only with UDPKIT_MDNS_BENCH=1
// (runs per case: UDPKIT_MDNS_BENCH_RUNS, default 12).
func TestLabBrowseComparison(t *testing.T) {
	if os.Getenv("UDPKIT_MDNS_BENCH") != "1" {
		t.Skip("a benchmark: set UDPKIT_MDNS_BENCH=1 to run it")
	}
	runs := 12
	if n, err := fmt.Sscan(os.Getenv("UDPKIT_MDNS_BENCH_RUNS"), &runs); n != 1 || err != nil {
		runs = 12
	}
	const servers, limit = 10, 10 * time.Second
	lab := newLab(t, netlab.Config{Hosts: servers + 1})
	for i := range servers {
		r, _, _ := startResponder(t, lab.Host(i), ResponderConfig{Instance: fmt.Sprintf("srv-%02d", i), Port: 9797})
		waitFor(t, 10*time.Second, r.announcedOnce, "announced")
	}
	time.Sleep(4 * time.Second) // the announcements are over
	client := lab.Host(servers)

	var queries []int
	ours := func() (time.Duration, int) {
		var b *Browser
		if err := client.Do(func() (err error) { b, err = NewBrowser(BrowserConfig{}); return err }); err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		seen := map[string]bool{}
		var last time.Duration
		b.Browse(ctx, "_udpkit._udp", func(in Instance) {
			if !seen[in.Name] {
				seen[in.Name] = true
				last = in.FoundAfter
			}
			if len(seen) == servers {
				cancel()
			}
		})
		queries = append(queries, int(b.queries.Load()))
		return last, len(seen)
	}
	avahi := func() (time.Duration, int) {
		av, err := client.StartAvahi(context.Background(), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer av.Close()
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		cmd := av.Command(ctx, "avahi-browse", "-rp", "_udpkit._udp")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); cmd.Wait() }()
		seen := map[string]bool{}
		var last time.Duration
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Split(sc.Text(), ";")
			if len(f) >= 10 && f[0] == "=" && !seen[f[3]] {
				seen[f[3]] = true
				last = time.Since(start)
				if len(seen) == servers {
					break
				}
			}
		}
		return last, len(seen)
	}
	hashicorp := func() (time.Duration, int) {
		entries := make(chan *hmdns.ServiceEntry, 64)
		seen := map[string]bool{}
		var last time.Duration
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for e := range entries {
				if !seen[e.Name] {
					seen[e.Name] = true
					last = time.Since(start)
				}
			}
		}()
		err := client.Do(func() error {
			return hmdns.Query(&hmdns.QueryParam{Service: "_udpkit._udp", Domain: "local", Timeout: limit,
				Entries: entries, Logger: log.New(io.Discard, "", 0)})
		})
		close(entries)
		<-done
		if err != nil {
			t.Logf("hashicorp/mdns: %v", err)
		}
		return last, len(seen)
	}
	// hashicorp/mdns's Query always waits for its timeout; the time that
	// counts is the tenth entry's.
	for _, loss := range []int{0, 30} {
		if err := lab.SetLoss(loss); err != nil {
			t.Fatal(err)
		}
		for _, b := range []struct {
			name string
			run  func() (time.Duration, int)
		}{{"udpkit mdns.Browser", ours}, {"Avahi 0.8 avahi-browse", avahi}, {"hashicorp/mdns v1.0.7", hashicorp}} {
			var times []time.Duration
			var founds []int
			all := 0
			queries = nil
			for range runs {
				d, n := b.run()
				founds = append(founds, n)
				if n == servers {
					all++
					times = append(times, d)
				}
				time.Sleep(200 * time.Millisecond)
			}
			slices.Sort(founds)
			slices.Sort(queries)
			slices.Sort(times)
			med, worst := "-", "-"
			if len(times) > 0 {
				med = fmtMs(times[len(times)/2])
				worst = fmtMs(times[len(times)-1])
			}
			q := "-"
			if len(queries) > 0 {
				q = fmt.Sprintf("%d (%d–%d)", queries[len(queries)/2], queries[0], queries[len(queries)-1])
			}
			t.Logf("| %d %% | %s | %d of %d | %d (%d–%d) | %s | %s | %s | %s |", loss, b.name, all, runs,
				founds[len(founds)/2], founds[0], founds[len(founds)-1], med, worst, q, fmtAll(times))
		}
	}
}

func fmtMs(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func fmtAll(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = fmt.Sprintf("%.0f", float64(d.Microseconds())/1000)
	}
	return strings.Join(s, ", ")
}
