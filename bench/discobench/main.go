// Command discobench compares discovery systems on a namespace LAN
// (internal/netlab): udpkit (udpserver and 'udpcli discover'), hashicorp/mdns
// (bench/mdnspeer, a module of its own) and Avahi (avahi-daemon and
// avahi-browse from Debian, one daemon per namespace). BENCHMARKS.md quotes
// its tables; bench/discobench.sh builds everything and runs it.
//
// One lab of -servers+1 hosts per loss rate: host 0 browses, hosts 1..N
// serve. Each run, for each system in turn (the order rotated run by run,
// so that the machine's drift hits all alike): start N servers, count the
// frames of their start-up (-startup long), browse until all N are found
// (at most -timeout), count the frames the browse caused (until -settle
// after the browser stopped), stop the servers. With -cold every host's
// neighbour cache (ARP, NDP) is flushed before each browse; otherwise the
// caches are warm after the first run. With -idle D, the servers of each
// system also run idle once: their frames are counted for D from -idle-after
// on, past the start-up bursts, and given per minute and server. Frames are
// counted as delivered, so one multicast or broadcast datagram a server
// sends counts once per other host: divide the UDP figure by -servers for
// the datagrams a server sent.
//
// Frames are counted where the switch delivers them: an nftables counter on
// the bridge's forward hook, after the lab's loss rule, so a frame flooded
// to 10 ports counts 10 times and a dropped one not at all. "all" counts
// every frame (ARP, neighbour discovery, IGMP and MLD included: a unicast
// answer to a cold cache costs them, a browser that joins a group sends
// reports), "UDP" only UDP datagrams: queries, answers and announcements,
// as nothing else sends UDP on the lab (udpkit answers from ports of their
// own, so a port filter would miss them).
//
// It must run as root; it creates and removes network namespaces and sends
// nothing outside them.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
)

type options struct {
	servers int
	runs    int
	losses  []int
	systems []string
	bin     string
	oldBin  string
	timeout time.Duration
	startup time.Duration
	settle  time.Duration
	idle    time.Duration
	after   time.Duration
	cold    bool
}

func main() {
	var o options
	var losses, systems string
	flag.IntVar(&o.servers, "servers", 10, "servers on the LAN")
	flag.IntVar(&o.runs, "runs", 12, "browses per system and loss rate")
	flag.StringVar(&losses, "loss", "0,30", "loss rates to run, percent, comma-separated")
	flag.StringVar(&systems, "systems", "udpkit,mdns,avahi", "systems to compare: udpkit, old (udpkit from -old-bin), mdns, avahi")
	flag.StringVar(&o.bin, "bin", "/tmp/discobench", "directory with udpserver, udpcli and mdnspeer")
	flag.StringVar(&o.oldBin, "old-bin", "", "directory with the udpserver and udpcli of another build, run as system \"old\" (before/after on one LAN)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "a browse gives up after this long")
	flag.DurationVar(&o.startup, "startup", 3*time.Second, "how long the servers' start-up is counted before browsing")
	flag.DurationVar(&o.settle, "settle", 300*time.Millisecond, "frames are still counted this long after the browser stopped")
	flag.DurationVar(&o.idle, "idle", 0, "also count idle frames over this long, once per system and loss rate (0: skip)")
	flag.DurationVar(&o.after, "idle-after", 30*time.Second, "idle frames are counted from this long after the servers started (past their start-up bursts)")
	flag.BoolVar(&o.cold, "cold", false, "flush every neighbour cache before each browse")
	flag.Parse()
	for _, s := range strings.Split(losses, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 || n > 100 {
			fatal(fmt.Errorf("-loss: bad rate %q", s))
		}
		o.losses = append(o.losses, n)
	}
	for _, s := range strings.Split(systems, ",") {
		if _, ok := systemsByName[s]; !ok {
			fatal(fmt.Errorf("-systems: unknown system %q", s))
		}
		if s == "old" && o.oldBin == "" {
			fatal(errors.New("-systems: old needs -old-bin"))
		}
		o.systems = append(o.systems, s)
	}
	if err := netlab.Available(); err != nil {
		fatal(err)
	}
	ctx := context.Background()
	var rows []row
	for _, loss := range o.losses {
		r, err := runLoss(ctx, o, loss)
		if err != nil {
			fatal(err)
		}
		rows = append(rows, r...)
	}
	printTable(o, rows)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "discobench:", err)
	os.Exit(1)
}

// result is one browse.
type result struct {
	foundMs            float64 // time until the N-th instance; -1 when not all were found
	frames, discFrames uint64  // delivered during the browse
	startup, discStart uint64  // delivered during the servers' start-up
}

// row is one (system, loss) cell.
type row struct {
	system  string
	loss    int
	results []result
	idleAll float64 // frames per minute per server, idle
	idleDis float64
	idleSet bool
}

type system struct {
	// start starts the server of host h (index i, from 1).
	start func(ctx context.Context, o options, h *netlab.Host, i int) (*proc, error)
	// browse finds n instances from h and returns the time to the n-th in ms (-1: not all).
	browse func(ctx context.Context, o options, h *netlab.Host, n int) (float64, error)
	// prepare and cleanup run once per lab (Avahi's browser-side daemons).
	prepare func(ctx context.Context, o options, lab *netlab.Lab) (cleanup func(), err error)
}

var systemsByName = map[string]system{
	"udpkit": {start: startUdpkit, browse: browseUdpkit},
	"old":    {start: startOld, browse: browseOld},
	"mdns":   {start: startMdns, browse: browseMdns},
	"avahi":  {start: startAvahi, browse: browseAvahi, prepare: prepareAvahi},
}

func runLoss(ctx context.Context, o options, loss int) ([]row, error) {
	lab, err := netlab.New(ctx, netlab.Config{Hosts: o.servers + 1, Loss: loss})
	if err != nil {
		return nil, err
	}
	defer lab.Close()
	ns := lab.Namespaces()
	bridge := ns[len(ns)-1]
	for _, n := range ns {
		if strings.HasSuffix(n, "-br") {
			bridge = n
		}
	}
	if err := setupCounters(ctx, bridge); err != nil {
		return nil, err
	}
	rows := make([]row, len(o.systems))
	for i, s := range o.systems {
		rows[i] = row{system: s, loss: loss}
		if p := systemsByName[s].prepare; p != nil {
			cleanup, err := p(ctx, o, lab)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s, err)
			}
			defer cleanup()
		}
	}
	for run := range o.runs {
		for k := range o.systems {
			i := (k + run) % len(o.systems)
			res, err := oneRun(ctx, o, lab, bridge, o.systems[i])
			if err != nil {
				return nil, fmt.Errorf("%s, loss %d%%, run %d: %w", o.systems[i], loss, run+1, err)
			}
			fmt.Fprintf(os.Stderr, "loss %3d%%  run %2d  %-7s found after %8.1f ms  frames %4d (UDP %4d)  start-up %4d (UDP %4d)\n",
				loss, run+1, o.systems[i], res.foundMs, res.frames, res.discFrames, res.startup, res.discStart)
			rows[i].results = append(rows[i].results, res)
		}
	}
	if o.idle > 0 {
		for i, s := range o.systems {
			all, disc, err := idleRun(ctx, o, lab, bridge, s)
			if err != nil {
				return nil, fmt.Errorf("%s idle: %w", s, err)
			}
			perMin := o.idle.Minutes() * float64(o.servers)
			rows[i].idleAll, rows[i].idleDis, rows[i].idleSet = float64(all)/perMin, float64(disc)/perMin, true
			fmt.Fprintf(os.Stderr, "loss %3d%%  idle    %-7s %d frames (UDP %d) in %v\n", loss, s, all, disc, o.idle)
		}
	}
	return rows, nil
}

// startAll starts every server of system s and returns the function that
// stops them.
func startAll(ctx context.Context, o options, lab *netlab.Lab, s string) (func(), error) {
	var cmds []*proc
	stop := func() {
		for _, c := range cmds {
			c.c.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range cmds {
			c.stop()
		}
	}
	for i := 1; i <= o.servers; i++ {
		c, err := systemsByName[s].start(ctx, o, lab.Host(i), i)
		if err != nil {
			stop()
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return stop, nil
}

func oneRun(ctx context.Context, o options, lab *netlab.Lab, bridge, s string) (result, error) {
	var res result
	if err := resetCounters(ctx, bridge); err != nil {
		return res, err
	}
	stop, err := startAll(ctx, o, lab, s)
	if err != nil {
		return res, err
	}
	defer stop()
	time.Sleep(o.startup)
	if res.startup, res.discStart, err = readCounters(ctx, bridge); err != nil {
		return res, err
	}
	if o.cold {
		for _, h := range lab.Hosts() {
			exec.CommandContext(ctx, "ip", "-n", h.Name, "neigh", "flush", "all").Run()
		}
	}
	if err := resetCounters(ctx, bridge); err != nil {
		return res, err
	}
	if res.foundMs, err = systemsByName[s].browse(ctx, o, lab.Host(0), o.servers); err != nil {
		return res, err
	}
	time.Sleep(o.settle)
	res.frames, res.discFrames, err = readCounters(ctx, bridge)
	return res, err
}

func idleRun(ctx context.Context, o options, lab *netlab.Lab, bridge, s string) (all, disc uint64, err error) {
	stop, err := startAll(ctx, o, lab, s)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	time.Sleep(o.after)
	if err := resetCounters(ctx, bridge); err != nil {
		return 0, 0, err
	}
	time.Sleep(o.idle)
	return readCounters(ctx, bridge)
}

// Counters: a table of its own in the bridge namespace, after netlab's loss
// rule (priority 0), so that only delivered frames count.
const counterTable = `table bridge discobench {
	chain forward {
		type filter hook forward priority 10; policy accept;
		counter comment "all"
		meta l4proto udp counter comment "udp"
	}
}
`

func nft(ctx context.Context, bridge, script string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", bridge, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("nft: %w: %s", err, out)
	}
	return string(out), nil
}

func setupCounters(ctx context.Context, bridge string) error {
	_, err := nft(ctx, bridge, counterTable)
	return err
}

// resetCounters recreates the table: "reset counters" would reset only
// named counters, and "reset rules" is not in every nft.
func resetCounters(ctx context.Context, bridge string) error {
	_, err := nft(ctx, bridge, "delete table bridge discobench\n"+counterTable)
	return err
}

var counterRE = regexp.MustCompile(`counter packets (\d+) bytes \d+ comment "(\w+)"`)

func readCounters(ctx context.Context, bridge string) (all, disc uint64, err error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", bridge, "nft", "list", "table", "bridge", "discobench").CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("nft list: %w: %s", err, out)
	}
	for _, m := range counterRE.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.ParseUint(m[1], 10, 64)
		if m[2] == "all" {
			all += n
		} else {
			disc += n
		}
	}
	return all, disc, nil
}

func startUdpkit(ctx context.Context, o options, h *netlab.Host, i int) (*proc, error) {
	return startUdpkitFrom(ctx, o.bin, h, i)
}

func browseUdpkit(ctx context.Context, o options, h *netlab.Host, n int) (float64, error) {
	return browseUdpkitFrom(ctx, o, o.bin, h, n)
}

// startOld and browseOld run udpkit of the build in -old-bin (system "old").
func startOld(ctx context.Context, o options, h *netlab.Host, i int) (*proc, error) {
	return startUdpkitFrom(ctx, o.oldBin, h, i)
}

func browseOld(ctx context.Context, o options, h *netlab.Host, n int) (float64, error) {
	return browseUdpkitFrom(ctx, o, o.oldBin, h, n)
}

func startUdpkitFrom(ctx context.Context, bin string, h *netlab.Host, i int) (*proc, error) {
	c := h.Command(ctx, filepath.Join(bin, "udpserver"), "--quiet", "--rate-limit", "0",
		"--instance", fmt.Sprintf("s%02d", i), "-I", "eth0")
	return startWaitable(c, "udpserver")
}

func browseUdpkitFrom(ctx context.Context, o options, bin string, h *netlab.Host, n int) (float64, error) {
	out, _ := h.Command(ctx, filepath.Join(bin, "udpcli"), "discover", "-n", strconv.Itoa(n),
		"-t", o.timeout.String(), "-I", "eth0", "--json", "_udpkit._udp").Output()
	var last float64
	count := 0
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var j struct {
			FoundAfter float64 `json:"found_after_ms"`
		}
		if json.Unmarshal(sc.Bytes(), &j) == nil {
			count++
			last = j.FoundAfter
		}
	}
	if count < n {
		return -1, nil
	}
	return last, nil
}

func startMdns(ctx context.Context, o options, h *netlab.Host, i int) (*proc, error) {
	c := h.Command(ctx, filepath.Join(o.bin, "mdnspeer"), "serve", "-instance", fmt.Sprintf("s%02d", i), "-iface", "eth0")
	return startWaitable(c, "mdnspeer serve")
}

func browseMdns(ctx context.Context, o options, h *netlab.Host, n int) (float64, error) {
	out, err := h.Command(ctx, filepath.Join(o.bin, "mdnspeer"), "browse", "-n", strconv.Itoa(n),
		"-timeout", o.timeout.String(), "-iface", "eth0").Output()
	if err != nil {
		return 0, fmt.Errorf("mdnspeer browse: %w", err)
	}
	var j struct {
		Found      int     `json:"found"`
		FoundAfter float64 `json:"found_after_ms"`
	}
	if err := json.Unmarshal(out, &j); err != nil {
		return 0, fmt.Errorf("mdnspeer browse: %w: %q", err, out)
	}
	if j.Found < n {
		return -1, nil
	}
	return j.FoundAfter, nil
}

// proc is a started long-running command.
type proc struct {
	c      *exec.Cmd
	done   chan struct{} // closed when it exited
	stderr strings.Builder
}

// startWaitable starts c and fails when it exits within 50 ms (a bad flag,
// a port in use).
func startWaitable(c *exec.Cmd, what string) (*proc, error) {
	p := &proc{c: c, done: make(chan struct{})}
	c.Stderr = &p.stderr
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	go func() { c.Wait(); close(p.done) }()
	select {
	case <-p.done:
		return nil, fmt.Errorf("%s exited at once: %s", what, p.stderr.String())
	case <-time.After(50 * time.Millisecond):
		return p, nil
	}
}

// stop ends p: SIGTERM, then SIGKILL after 3 s.
func (p *proc) stop() {
	p.c.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		p.c.Process.Kill()
		<-p.done
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printTable(o options, rows []row) {
	cache := "warm"
	if o.cold {
		cache = "cold (flushed before each browse)"
	}
	fmt.Printf("\n%d servers, %d runs per cell, neighbour caches %s\n\n", o.servers, o.runs, cache)
	fmt.Println("| loss | system | all found: median | worst | runs that missed one | frames / browse: all (UDP) | start-up frames / server: all (UDP) | idle frames / min / server: all (UDP) |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		var found, frames, disc, st, dst []float64
		missed := 0
		for _, x := range r.results {
			if x.foundMs < 0 {
				missed++
			} else {
				found = append(found, x.foundMs)
			}
			frames = append(frames, float64(x.frames))
			disc = append(disc, float64(x.discFrames))
			st = append(st, float64(x.startup)/float64(o.servers))
			dst = append(dst, float64(x.discStart)/float64(o.servers))
		}
		worst := "—"
		med := "—"
		if len(found) > 0 {
			med = fmt.Sprintf("%.1f ms", median(found))
			worst = fmt.Sprintf("%.1f ms", slices.Max(found))
		}
		idle := "—"
		if r.idleSet {
			idle = fmt.Sprintf("%.1f (%.1f)", r.idleAll, r.idleDis)
		}
		fmt.Printf("| %d %% | %s | %s | %s | %d of %d | %.0f (%.0f) | %.1f (%.1f) | %s |\n",
			r.loss, r.system, med, worst, missed, len(r.results), median(frames), median(disc), median(st), median(dst), idle)
	}
}

// Avahi. Every host runs its own avahi-daemon inside its namespace and a
// private mount namespace (unshare -m) where /etc/avahi/services and
// /run/avahi-daemon are directories of the benchmark's own, so that the
// daemons neither see each other's files nor the machine's. The servers'
// daemons publish one static service each and no D-Bus; the browser's
// daemon publishes nothing (no host name probing to wait for) and talks to
// avahi-browse over a private D-Bus bus of the benchmark's. The browser's
// daemon is started afresh for every browse, so that it answers from the
// network and not from what it cached of earlier runs or of the servers'
// start-up announcements.

const avahiConf = `[server]
host-name=%s
use-ipv4=yes
use-ipv6=yes
allow-interfaces=eth0
enable-dbus=%s
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
disable-publishing=%s
publish-addresses=%s
publish-hinfo=no
publish-workstation=no
publish-domain=no
[reflector]
[rlimits]
`

const avahiService = `<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>%s</name>
  <service>
    <type>_udpkit._udp</type>
    <port>9797</port>
    <txt-record>v=1</txt-record>
  </service>
</service-group>
`

const dbusConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

var avahiDir string // per-run files: configs, services, run dirs, the bus socket

func avahiBus() string { return filepath.Join(avahiDir, "bus") }

// avahiCommand runs avahi-daemon for host h with its own files.
func avahiCommand(ctx context.Context, h *netlab.Host, conf, services string) *exec.Cmd {
	run := filepath.Join(avahiDir, h.Name+"-run")
	os.MkdirAll(run, 0o755)
	script := `mount --bind "$1" /etc/avahi/services && mkdir -p /run/avahi-daemon && mount --bind "$2" /run/avahi-daemon && exec avahi-daemon -f "$3" --no-drop-root --no-chroot --no-rlimits --no-proc-title`
	c := h.Command(ctx, "unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", services, run, conf)
	c.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS=unix:path="+avahiBus())
	return c
}

func prepareAvahi(ctx context.Context, o options, lab *netlab.Lab) (func(), error) {
	for _, tool := range []string{"avahi-daemon", "avahi-browse", "dbus-daemon", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("avahi needs %s: %w", tool, err)
		}
	}
	dir, err := os.MkdirTemp("", "discobench-avahi")
	if err != nil {
		return nil, err
	}
	avahiDir = dir
	for i := 0; i <= o.servers; i++ {
		h := lab.Host(i)
		svc := filepath.Join(dir, h.Name+"-services")
		if err := os.MkdirAll(svc, 0o755); err != nil {
			return nil, err
		}
		conf := fmt.Sprintf(avahiConf, fmt.Sprintf("s%02d", i), "no", "no", "yes")
		if i == 0 {
			conf = fmt.Sprintf(avahiConf, "browser", "yes", "yes", "no")
		} else if err := os.WriteFile(filepath.Join(svc, "udpkit.service"), fmt.Appendf(nil, avahiService, fmt.Sprintf("s%02d", i)), 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, h.Name+".conf"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
	}
	bconf := filepath.Join(dir, "dbus.conf")
	if err := os.WriteFile(bconf, fmt.Appendf(nil, dbusConf, avahiBus()), 0o644); err != nil {
		return nil, err
	}
	bus, err := startWaitable(exec.CommandContext(ctx, "dbus-daemon", "--config-file="+bconf, "--nofork", "--nopidfile", "--nosyslog"), "dbus-daemon")
	if err != nil {
		return nil, err
	}
	for range 100 {
		if _, err := os.Stat(avahiBus()); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() {
		bus.stop()
		os.RemoveAll(dir)
	}, nil
}

func startAvahi(ctx context.Context, o options, h *netlab.Host, i int) (*proc, error) {
	c := avahiCommand(ctx, h, filepath.Join(avahiDir, h.Name+".conf"), filepath.Join(avahiDir, h.Name+"-services"))
	return startWaitable(c, "avahi-daemon")
}

func browseAvahi(ctx context.Context, o options, h *netlab.Host, n int) (float64, error) {
	d, err := startWaitable(avahiCommand(ctx, h, filepath.Join(avahiDir, h.Name+".conf"), filepath.Join(avahiDir, h.Name+"-services")), "avahi-daemon (browser)")
	if err != nil {
		return 0, err
	}
	defer d.stop()
	// Wait until the daemon answers on the bus (it publishes nothing, so
	// it is up at once).
	env := append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS=unix:path="+avahiBus())
	up := false
	for range 100 {
		c := h.Command(ctx, "avahi-browse", "-t", "-p", "_none._udp")
		c.Env = env
		if c.Run() == nil {
			up = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !up {
		return 0, errors.New("the browser's avahi-daemon did not come up on the bus")
	}
	bctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c := h.Command(bctx, "avahi-browse", "-p", "_udpkit._udp")
	c.Env = env
	out, err := c.StdoutPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := c.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cancel()
		c.Wait()
	}()
	seen := map[string]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		// +;eth0;IPv4;s01;_udpkit._udp;local
		f := strings.Split(sc.Text(), ";")
		if len(f) >= 4 && f[0] == "+" && !seen[f[3]] {
			seen[f[3]] = true
			if len(seen) == n {
				return float64(time.Since(start).Microseconds()) / 1000, nil
			}
		}
	}
	return -1, nil
}
