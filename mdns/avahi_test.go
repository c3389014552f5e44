package mdns

import (
	"bufio"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
)

func startAvahi(t *testing.T, h *netlab.Host) *netlab.Avahi {
	t.Helper()
	if err := netlab.AvahiAvailable(); err != nil {
		t.Skip(err)
	}
	a, err := h.StartAvahi(t.Context(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		if t.Failed() {
			t.Logf("avahi log:\n%s", a.Log())
		}
	})
	return a
}

// avahiResolved is one "=" line of avahi-browse -p.
type avahiResolved struct {
	iface, proto, name, typ, host, addr, port, txt string
}

func parseAvahi(out string) []avahiResolved {
	var res []avahiResolved
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ";")
		if len(f) >= 10 && f[0] == "=" {
			res = append(res, avahiResolved{f[1], f[2], avahiUnescape(f[3]), f[4], f[6], f[7], f[8], f[9]})
		}
	}
	return res
}

func TestAvahiBrowseResolvesResponder(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	av := startAvahi(t, lab.Host(1))
	r, _, _ := startResponder(t, lab.Host(0), ResponderConfig{Instance: "kitchen hub", Port: 9797, Text: []string{"room=kitchen"}})
	v4At := func(x avahiResolved) bool {
		return x.proto == "IPv4" && x.addr == lab.Host(0).IPv4.String() && strings.Contains(x.txt, `"room=kitchen"`)
	}
	out, res := avahiBrowseUntil(t, av, "_udpkit._udp", func(res []avahiResolved) bool { return slices.ContainsFunc(res, v4At) })
	t.Logf("avahi-browse -rpt _udpkit._udp:\n%s", out)
	var v4 bool
	for _, x := range res {
		if x.name != "kitchen hub" || x.port != "9797" || x.host != r.Host()+".local" {
			t.Errorf("resolved %+v", x)
		}
		v4 = v4 || v4At(x)
	}
	if !v4 {
		t.Fatalf("avahi-browse did not resolve kitchen hub at %v:9797 over IPv4", lab.Host(0).IPv4)
	}
}

// avahiBrowseUntil runs avahi-browse -rpt TYPE until done accepts what it
// resolved or 20 s passed, and returns its last output. avahi-browse -t
// ends at its "all for now", which on a loaded machine can come before a
// responder's answer was read: a user would run it again, as this does.
func avahiBrowseUntil(t *testing.T, av *netlab.Avahi, typ string, done func([]avahiResolved) bool) (string, []avahiResolved) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		out, err := av.Command(ctx, "avahi-browse", "-rpt", typ).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("avahi-browse: %v\n%s", err, out)
		}
		res := parseAvahi(string(out))
		if done(res) || time.Now().After(deadline) {
			return string(out), res
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// avahiUnescape decodes avahi-browse -p's \DDD escapes.
func avahiUnescape(s string) string {
	label, _ := firstLabel(s)
	return label
}

func TestBrowserFindsAvahiPublish(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	av := startAvahi(t, lab.Host(1))
	pub := av.Command(t.Context(), "avahi-publish", "-s", "web server", "_http._tcp", "8080", "path=/x")
	var stderr syncBuffer
	pub.Stderr = &stderr
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Process.Kill(); pub.Wait() })
	b := newBrowser(t, lab.Host(0))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []Instance
	b.Browse(ctx, "_http._tcp", func(in Instance) { got = append(got, in); cancel() })
	if len(got) != 1 {
		t.Fatalf("found %d instances; avahi-publish said %q", len(got), stderr.String())
	}
	in := got[0]
	t.Logf("%+v", in)
	if in.Name != "web server" || in.Port != 8080 || in.Host != "avahi-h1.local." || len(in.Text) != 1 || in.Text[0] != "path=/x" {
		t.Errorf("got %+v", in)
	}
	if len(in.Addrs) == 0 || in.Addrs[0] != lab.Host(1).IPv4 {
		t.Errorf("addresses %v, want %v first", in.Addrs, lab.Host(1).IPv4)
	}
}

func TestBrowserListsTypes(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 3})
	av := startAvahi(t, lab.Host(1))
	pub := av.Command(t.Context(), "avahi-publish", "-s", "printer", "_ipp._tcp", "631")
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Process.Kill(); pub.Wait() })
	startResponder(t, lab.Host(2), ResponderConfig{Instance: "garage", Port: 9797})
	b := newBrowser(t, lab.Host(0))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	seen := map[string]string{}
	b.Browse(ctx, "", func(in Instance) {
		t.Logf("%s %s after %v", in.Service, in.Name, in.FoundAfter)
		seen[in.Service] = in.Name
		if len(seen) == 2 {
			cancel()
		}
	})
	if seen["_ipp._tcp"] != "printer" || seen["_udpkit._udp"] != "garage" {
		t.Fatalf("service types seen: %v", seen)
	}
}

func TestConflictWithAvahiRenames(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	av := startAvahi(t, lab.Host(1))
	pub := av.Command(t.Context(), "avahi-publish", "-s", "kitchen", "_udpkit._udp", "9797")
	var out syncBuffer
	pub.Stdout, pub.Stderr = &out, &out
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Process.Kill(); pub.Wait() })
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(out.String(), "Established") }, "avahi-publish established")
	r, _, _ := startResponder(t, lab.Host(0), ResponderConfig{Instance: "kitchen", Port: 9797})
	waitFor(t, 10*time.Second, func() bool { return r.Instance() == "kitchen (2)" }, "our responder renamed to kitchen (2)")
	// avahi-browse sees both, under distinct names.
	// Each name resolved to one of its host's addresses: avahi may
	// resolve an entry browsed over IPv4 to the host's IPv6 address.
	var names map[string]map[string]bool
	collect := func(res []avahiResolved) {
		names = map[string]map[string]bool{}
		for _, x := range res {
			if names[x.name] == nil {
				names[x.name] = map[string]bool{}
			}
			names[x.name][x.addr] = true
		}
	}
	owns := func(name string, h *netlab.Host) bool {
		if len(names[name]) == 0 {
			return false
		}
		for a := range names[name] {
			if a != h.IPv4.String() && a != h.IPv6.String() && !strings.HasPrefix(a, "fe80:") {
				return false
			}
		}
		return true
	}
	bout, _ := avahiBrowseUntil(t, av, "_udpkit._udp", func(res []avahiResolved) bool {
		collect(res)
		return len(names["kitchen"]) > 0 && len(names["kitchen (2)"]) > 0
	})
	if !owns("kitchen", lab.Host(1)) || !owns("kitchen (2)", lab.Host(0)) {
		t.Fatalf("avahi-browse resolved %v\n%s", names, bout)
	}
}

func TestTwoRespondersSameName(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	a, _, _ := startResponder(t, lab.Host(0), ResponderConfig{Instance: "twin", Port: 9797})
	b, _, _ := startResponder(t, lab.Host(1), ResponderConfig{Instance: "twin", Port: 9797})
	waitFor(t, 10*time.Second, func() bool {
		return a.Instance() != b.Instance() && (a.Instance() == "twin (2)" || b.Instance() == "twin (2)")
	}, "one of the twins renamed")
	// Both stay visible under their names.
	br := newBrowser(t, lab.Host(1))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	seen := map[string]bool{}
	br.Browse(ctx, "_udpkit._udp", func(in Instance) {
		seen[in.Name] = true
		if len(seen) == 2 {
			cancel()
		}
	})
	if !seen["twin"] || !seen["twin (2)"] {
		t.Fatalf("browser saw %v", seen)
	}
}

func TestGoodbyeRemovesFromAvahiBrowse(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	av := startAvahi(t, lab.Host(1))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	browse := av.Command(ctx, "avahi-browse", "-p", "_udpkit._udp")
	stdout, err := browse.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := browse.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { browse.Process.Kill(); browse.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	_, stop, done := startResponder(t, lab.Host(0), ResponderConfig{Instance: "leaving", Port: 9797})
	expect := func(prefix string) time.Time {
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("avahi-browse ended before %q", prefix)
				}
				t.Log(l)
				if strings.HasPrefix(l, prefix) && strings.Contains(l, ";leaving;") {
					return time.Now()
				}
			case <-ctx.Done():
				t.Fatalf("no %q line from avahi-browse", prefix)
			}
		}
	}
	expect("+;eth0;IPv4")
	start := time.Now()
	stop()
	<-done
	gone := expect("-;eth0;IPv4")
	// RFC 6762 section 10.1: queriers keep a goodbye record for one more
	// second, so about 1 s is the floor; without the goodbye the PTR
	// would stay for its TTL (75 minutes).
	took := gone.Sub(start)
	t.Logf("removed from avahi-browse %v after the responder stopped", took)
	if took > 5*time.Second {
		t.Errorf("removal took %v", took)
	}
}

// syncBuffer is a strings.Builder safe for a writing process and a
// reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSharesPortWithAvahi runs a Responder and a Browser on hosts where
// avahi-daemon holds UDP 5353 too: both work, and the local Avahi sees the
// local Responder (multicast loops back).
func TestSharesPortWithAvahi(t *testing.T) {
	lab := newLab(t, netlab.Config{Hosts: 2})
	r, _, _ := startResponder(t, lab.Host(0), ResponderConfig{Instance: "neighbour", Port: 9797})
	waitFor(t, 10*time.Second, r.announcedOnce, "announced")
	// After the announcements (0, 1, 3 s), so that the Avahis below learn
	// of neighbour only by asking: the remote one's query must reach the
	// Responder through a port the local Avahi holds too.
	time.Sleep(3500 * time.Millisecond)
	av0 := startAvahi(t, lab.Host(0))
	av1 := startAvahi(t, lab.Host(1))
	for _, av := range []*netlab.Avahi{av1, av0} {
		neighbour := func(x avahiResolved) bool {
			return x.name == "neighbour" && x.addr == lab.Host(0).IPv4.String() && x.port == "9797"
		}
		out, res := avahiBrowseUntil(t, av, "_udpkit._udp", func(res []avahiResolved) bool { return slices.ContainsFunc(res, neighbour) })
		if !slices.ContainsFunc(res, neighbour) {
			t.Errorf("avahi on %s does not resolve neighbour:\n%s", av.HostName, out)
		}
	}
	pub := av1.Command(t.Context(), "avahi-publish", "-s", "far", "_http._tcp", "80")
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Process.Kill(); pub.Wait() })
	b := newBrowser(t, lab.Host(0))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	found := false
	b.Browse(ctx, "_http._tcp", func(in Instance) { found = in.Name == "far"; cancel() })
	if !found {
		t.Error("the browser next to avahi-daemon did not find far._http._tcp")
	}
}
