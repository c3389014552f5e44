package netlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config describes a lab. The zero value is a lab of two hosts on one
// segment without loss.
type Config struct {
	// Hosts is the number of host namespaces, 1 to 200. Zero means 2.
	Hosts int
	// Prefix starts the name of every namespace the lab creates
	// ("<prefix>-br", "<prefix>-h0", ...). Empty means "uk" and six random
	// hex digits, so that labs built in parallel do not collide. It may
	// hold letters, digits, '-' and '_', at most 32 of them.
	Prefix string
	// SecondSegment lists the indexes of the hosts that also get a NIC
	// (eth1) on segment B. Empty means segment B does not exist.
	SecondSegment []int
	// Loss is the percentage (0 to 100) of frames the bridges drop. Zero
	// means none. See Lab.SetLoss.
	Loss int
}

// Segment addressing. Host i has 198.18.0.(10+i)/24 and fd18::(10+i)/64 on
// segment A, 198.18.1.(10+i)/24 and fd18:0:0:1::(10+i)/64 on segment B; the
// IPv6 interface identifier is written with the same digits as the last
// IPv4 byte (host 0 is 198.18.0.10 and fd18::10). The bridge namespace holds
// the .1 and ::1 addresses, which the hosts' default routes point to.
const (
	maxHosts  = 200
	firstHost = 10
)

var segments = [2]struct {
	bridge, v4, v6 string // bridge name, IPv4 and IPv6 prefixes without the host part
}{
	{"brA", "198.18.0.", "fd18::"},
	{"brB", "198.18.1.", "fd18:0:0:1::"},
}

// Lab is a LAN made of network namespaces: one namespace per host and one
// holding the bridges that connect them. It is safe for concurrent use.
// Close removes everything it created.
type Lab struct {
	prefix   string
	bridgeNS string
	hosts    []*Host
	hasB     bool

	mu       sync.Mutex
	created  []string // namespaces, in creation order
	closed   bool
	closeErr error
}

// Host is one machine of a lab: a network namespace with a NIC (eth0) on
// segment A and maybe a second (eth1) on segment B.
type Host struct {
	// Name is the name of the host's network namespace, as `ip netns`
	// shows it, such as "uk1a2b3c-h0".
	Name string
	// Index is the host's position in the lab, from 0.
	Index int
	// IPv4 is the host's address on segment A (eth0), 198.18.0.(10+Index).
	IPv4 netip.Addr
	// IPv6 is the host's address on segment A (eth0), fd18::(10+Index).
	IPv6 netip.Addr
	// SecondIPv4 is the host's address on segment B (eth1),
	// 198.18.1.(10+Index); the zero Addr if the host is not on segment B.
	SecondIPv4 netip.Addr
	// SecondIPv6 is the host's address on segment B (eth1),
	// fd18:0:0:1::(10+Index); the zero Addr if the host is not on segment B.
	SecondIPv6 netip.Addr
	// Ifaces names the host's NICs: "eth0", then "eth1" if it is on
	// segment B. Every host also has "lo", up.
	Ifaces []string
}

// New builds a lab. Construction is all or nothing: on error, everything
// created so far is removed. New never creates, changes or moves anything
// in the caller's own network namespace: veth pairs are created inside the
// host namespace with their peer placed straight into the bridge namespace.
func New(ctx context.Context, cfg Config) (*Lab, error) {
	hosts, prefix, inB, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	l := &Lab{prefix: prefix, bridgeNS: prefix + "-br"}
	for i := range hosts {
		h := &Host{
			Name:   fmt.Sprintf("%s-h%d", prefix, i),
			Index:  i,
			IPv4:   addr(0, i, false),
			IPv6:   addr(0, i, true),
			Ifaces: []string{"eth0"},
		}
		if inB[i] {
			h.SecondIPv4, h.SecondIPv6 = addr(1, i, false), addr(1, i, true)
			h.Ifaces = append(h.Ifaces, "eth1")
			l.hasB = true
		}
		l.hosts = append(l.hosts, h)
	}
	if err := l.build(ctx, cfg.Loss); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("netlab: cleaning up: %w", cerr))
		}
		return nil, err
	}
	return l, nil
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// resolve checks cfg and fills in defaults, without writing to cfg.
func resolve(cfg Config) (hosts int, prefix string, inB []bool, err error) {
	hosts = cfg.Hosts
	if hosts == 0 {
		hosts = 2
	}
	if hosts < 1 || hosts > maxHosts {
		return 0, "", nil, fmt.Errorf("netlab: Hosts is %d, want 1 to %d", cfg.Hosts, maxHosts)
	}
	if cfg.Loss < 0 || cfg.Loss > 100 {
		return 0, "", nil, fmt.Errorf("netlab: Loss is %d%%, want 0 to 100", cfg.Loss)
	}
	prefix = cfg.Prefix
	if prefix == "" {
		prefix = "uk" + randomHex(3)
	}
	if !prefixRE.MatchString(prefix) {
		return 0, "", nil, fmt.Errorf("netlab: Prefix %q: want 1 to 32 letters, digits, '-' or '_'", cfg.Prefix)
	}
	inB = make([]bool, hosts)
	for _, i := range cfg.SecondSegment {
		if i < 0 || i >= hosts {
			return 0, "", nil, fmt.Errorf("netlab: SecondSegment holds host %d; the lab has hosts 0 to %d", i, hosts-1)
		}
		inB[i] = true
	}
	return hosts, prefix, inB, nil
}

// addr returns host i's IPv4 or IPv6 address on segment seg.
func addr(seg, i int, v6 bool) netip.Addr {
	if v6 {
		return netip.MustParseAddr(fmt.Sprintf("%s%d", segments[seg].v6, firstHost+i))
	}
	return netip.MustParseAddr(fmt.Sprintf("%s%d", segments[seg].v4, firstHost+i))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// build creates the namespaces, bridges and links.
func (l *Lab) build(ctx context.Context, loss int) error {
	names := []string{l.bridgeNS}
	for _, h := range l.hosts {
		names = append(names, h.Name)
	}
	for _, ns := range names {
		if err := ip(ctx, "netns", "add", ns); err != nil {
			return err
		}
		l.mu.Lock()
		l.created = append(l.created, ns)
		l.mu.Unlock()
		// Before any link exists, so that every address is usable at
		// once: no duplicate address detection (no tentative state).
		err := doIn(ns, func() error {
			for _, k := range []string{"all", "default"} {
				p := "/proc/sys/net/ipv6/conf/" + k + "/accept_dad"
				if err := os.WriteFile(p, []byte("0"), 0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("netlab: turning off IPv6 DAD in %s: %w", ns, err)
		}
		if err := ip(ctx, "-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}

	nseg := 1
	if l.hasB {
		nseg = 2
	}
	for seg := range nseg {
		s := segments[seg]
		for _, args := range [][]string{
			// No snooping: multicast floods to every port, as on a
			// dumb switch, whether or not anyone sent an IGMP/MLD report.
			{"link", "add", "name", s.bridge, "type", "bridge", "mcast_snooping", "0", "stp_state", "0"},
			{"addr", "add", s.v4 + "1/24", "dev", s.bridge},
			{"addr", "add", s.v6 + "1/64", "dev", s.bridge, "nodad"},
			{"link", "set", s.bridge, "up"},
		} {
			if err := ip(ctx, append([]string{"-n", l.bridgeNS}, args...)...); err != nil {
				return err
			}
		}
	}
	if err := l.SetLoss(loss); err != nil {
		return err
	}

	for _, h := range l.hosts {
		for seg, dev := range h.Ifaces {
			s := segments[seg]
			peer := fmt.Sprintf("h%d%c", h.Index, 'a'+seg)
			v4 := fmt.Sprintf("%s%d/24", s.v4, firstHost+h.Index)
			v6 := fmt.Sprintf("%s%d/64", s.v6, firstHost+h.Index)
			cmds := [][]string{
				{"-n", h.Name, "link", "add", "name", dev, "type", "veth", "peer", "name", peer, "netns", l.bridgeNS},
				{"-n", l.bridgeNS, "link", "set", peer, "master", s.bridge, "up"},
				{"-n", h.Name, "addr", "add", v4, "dev", dev},
				{"-n", h.Name, "addr", "add", v6, "dev", dev, "nodad"},
				{"-n", h.Name, "link", "set", dev, "up"},
			}
			if seg == 0 {
				// "via" matters: go-sockaddr only recognises
				// "default via X dev Y" as a default route.
				cmds = append(cmds,
					[]string{"-n", h.Name, "route", "add", "default", "via", s.v4 + "1", "dev", dev},
					[]string{"-n", h.Name, "-6", "route", "add", "default", "via", s.v6 + "1", "dev", dev},
				)
			}
			for _, args := range cmds {
				if err := ip(ctx, args...); err != nil {
					return err
				}
			}
		}
	}
	for _, h := range l.hosts {
		for _, dev := range h.Ifaces {
			if err := waitLinkLocal(ctx, h.Name, dev); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitLinkLocal waits until dev in ns has an IPv6 link-local address that
// is not tentative, so tests can use it at once.
func waitLinkLocal(ctx context.Context, ns, dev string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		out, err := exec.CommandContext(ctx, "ip", "-n", ns, "-j", "-6", "addr", "show", "dev", dev).Output()
		if err == nil {
			var links []struct {
				AddrInfo []addrInfo `json:"addr_info"`
			}
			if json.Unmarshal(out, &links) == nil && len(links) == 1 &&
				slices.ContainsFunc(links[0].AddrInfo, addrInfo.usableLinkLocal) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("netlab: %s in %s has no usable IPv6 link-local address: %w", dev, ns, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// addrInfo is an address in the output of `ip -j addr show`.
type addrInfo struct {
	Scope     string `json:"scope"`
	Tentative bool   `json:"tentative"`
}

func (a addrInfo) usableLinkLocal() bool { return a.Scope == "link" && !a.Tentative }

// Host returns host i (0 to Hosts-1), or nil if there is no such host.
func (l *Lab) Host(i int) *Host {
	if i < 0 || i >= len(l.hosts) {
		return nil
	}
	return l.hosts[i]
}

// Hosts returns the lab's hosts in index order.
func (l *Lab) Hosts() []*Host {
	return slices.Clone(l.hosts)
}

// Namespaces returns the names of the namespaces the lab created and has
// not removed, the bridge namespace ("<prefix>-br") first.
func (l *Lab) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.created)
}

// SetLoss makes the bridges drop percent (0 to 100) of the frames they
// forward between hosts, chosen at random, independently per frame, in
// both directions, on every segment. Frames to and from the bridge
// namespace's own .1 addresses are not affected. A unicast round trip thus
// fails with probability 1-(1-p)², and address resolution (ARP, NDP) suffers
// too: prime neighbour caches before raising the loss.
//
// The drop is an nftables rule in the bridge namespace's forward hook
// (`numgen random mod 100 < P drop`); SetLoss replaces it atomically.
// It needs the nft command unless percent is 0 and no loss was ever set.
func (l *Lab) SetLoss(percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("netlab: loss %d%%, want 0 to 100", percent)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("netlab: SetLoss on a closed lab")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		if percent == 0 {
			return nil // nothing to remove: no rule could have been added
		}
		return fmt.Errorf("netlab: packet loss needs nft (nftables): %w", err)
	}
	script := `table bridge netlab {
	chain forward {
		type filter hook forward priority 0; policy accept;
	}
}
flush chain bridge netlab forward
`
	switch {
	case percent == 100:
		script += "add rule bridge netlab forward counter drop\n"
	case percent > 0:
		script += fmt.Sprintf("add rule bridge netlab forward numgen random mod 100 < %d counter drop\n", percent)
	}
	cmd := exec.Command("ip", "netns", "exec", l.bridgeNS, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: setting loss to %d%%: nft: %w: %s", percent, err, bytes.TrimSpace(out))
	}
	return nil
}

// Close removes every namespace the lab created, and with them the
// bridges, veth pairs and nftables rules. It is idempotent: later calls
// return the first call's result. Processes still running inside a
// namespace (started with Host.Command) keep it alive, nameless, until
// they exit; stop them first.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.closeErr
	}
	l.closed = true
	var errs []error
	// Hosts first, then the bridge: deleting a host namespace removes its
	// veth pairs, so the bridge namespace goes last with empty bridges.
	for k := len(l.created) - 1; k >= 0; k-- {
		ns := l.created[k]
		if err := ip(context.Background(), "netns", "del", ns); err != nil {
			errs = append(errs, err)
			continue
		}
		l.created = slices.Delete(l.created, k, k+1)
	}
	l.closeErr = errors.Join(errs...)
	return l.closeErr
}

// Command returns a command that runs name with args inside the host's
// network namespace (`ip netns exec NS name args...`). The rest of the
// environment (mounts, PIDs, files) is shared with the caller.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// Do runs fn on an OS thread that has entered the host's network
// namespace, then returns the thread to the caller's namespace. Sockets
// fn opens belong to the host's namespace for their whole life and may be
// used from any goroutine afterwards; net.Interfaces and processes fn
// starts with os/exec also see the host's namespace. Goroutines fn starts
// do not run in it.
//
// IPv6 zones given by name ("fe80::1%eth0") are turned into interface
// indexes in the namespace of the thread that sends, through a cache the
// net package shares across namespaces: outside Do, use numeric zones with
// the index from the host's namespace.
func (h *Host) Do(fn func() error) error {
	return doIn(h.Name, fn)
}

// ip runs the ip command and reports its output on failure.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

var available = sync.OnceValue(probe)

// Available reports whether labs can be built here: nil if so, otherwise
// an error saying why (not Linux, not root, no ip command, namespaces or
// veth pairs not permitted). Tests call t.Skip with it. The answer is
// computed once.
func Available() error { return available() }

func probe() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("netlab: network namespaces need Linux, this is %s", runtime.GOOS)
	}
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("netlab: creating network namespaces needs root, running as uid %d", uid)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("netlab: the ip command (iproute2) is missing: %w", err)
	}
	ns := "ukprobe" + randomHex(4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ip(ctx, "netns", "add", ns); err != nil {
		return fmt.Errorf("netlab: cannot create a network namespace: %w", err)
	}
	defer ip(context.Background(), "netns", "del", ns)
	if err := ip(ctx, "-n", ns, "link", "add", "name", "probe0", "type", "veth", "peer", "name", "probe1"); err != nil {
		return fmt.Errorf("netlab: cannot create a veth pair: %w", err)
	}
	if err := ip(ctx, "-n", ns, "link", "add", "name", "probebr", "type", "bridge"); err != nil {
		return fmt.Errorf("netlab: cannot create a bridge: %w", err)
	}
	return doIn(ns, func() error { return nil })
}
