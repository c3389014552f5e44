package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udpkit/udpkit/client/clienttest"
	"github.com/udpkit/udpkit/wire"
)

// jsonFields is every field name that a --json line of udpcli (and a record
// line of udpserver) may carry, one name per concept; README.md's "JSON
// fields" table lists the same names. A new field takes a name from here
// or is added here and there.
var jsonFields = map[string]bool{
	// identity and addresses
	"id": true, "session": true, "seq": true, "first_seq": true,
	"addr": true, "addrs": true, "from": true, "to": true, "peer": true, "group": true, "source": true,
	"target": true, "host": true, "instance": true, "service": true, "server": true, "interface": true, "interfaces": true,
	// payload and sizes
	"text": true, "base64": true, "raw": true, "size": true,
	// time
	"time": true, "rtt_ms": true, "elapsed_ms": true, "found_after_ms": true, "ttl_ms": true,
	"rtt_min_ms": true, "rtt_avg_ms": true, "rtt_max_ms": true, "rtt_mdev_ms": true,
	"rtt_p50_ms": true, "rtt_p90_ms": true, "rtt_p99_ms": true,
	// outcome
	"type": true, "kind": true, "status": true, "reason": true, "code": true, "error": true, "ok": true,
	"attempts": true, "busy": true, "failovers": true, "duplicate": true, "reordered": true, "truncated": true,
	"interrupted": true,
	// counts and ratios
	"sent": true, "replies": true, "received": true, "expected": true, "lost": true, "nacks": true,
	"duplicates": true, "errors": true, "rate_limited": true, "ignored": true, "ignored_sources": true,
	"xmt": true, "rcv": true, "peers": true, "peers_ok": true, "inflight": true, "conns": true, "replies_per_second": true,
	"loss_percent": true, "round_trip_loss_percent": true, "max_loss_percent": true,
	// multicast
	"ttl": true, "ttl_sent": true, "ttl_seen": true, "multicast": true, "unicast": true, "from_peer": true,
	"member": true, "joined": true, "listed": true, "discovered": true, "answered": true, "receive_only": true,
	"sends_group": true,
	// discovery and interfaces
	"attrs": true, "name": true, "index": true, "mtu": true, "flags": true, "can_broadcast": true,
	"can_multicast": true, "ipv4": true, "ipv6": true, "ipv6_link_local": true, "prefix": true, "broadcast": true,
	"skipped": true,
}

var (
	hexID      = regexp.MustCompile(`^[0-9a-f]{16}$`)
	hexSession = regexp.MustCompile(`^[0-9a-f]{8}$`)
)

// checkJSONLine decodes one --json line of cmd and checks every field name
// (nested ones too, except inside attrs, which are the server's) and the
// values of the names with a fixed form.
func checkJSONLine(t *testing.T, cmd, line string) {
	t.Helper()
	var v map[string]any
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Errorf("%s: not one JSON object: %v: %q", cmd, err, line)
		return
	}
	var walk func(path string, m map[string]any)
	walk = func(path string, m map[string]any) {
		for k, val := range m {
			p := path + "." + k
			if !jsonFields[k] {
				t.Errorf("%s: field %s is not in the list of JSON fields (README.md): %s", cmd, p, line)
			}
			check := func(ok bool, want string) {
				if !ok {
					t.Errorf("%s: %s = %v, want %s", cmd, p, val, want)
				}
			}
			switch {
			case k == "attrs":
				continue
			case strings.HasSuffix(k, "_ms") || k == "size":
				_, ok := val.(json.Number)
				check(ok, "a number")
			case k == "id":
				s, _ := val.(string)
				check(hexID.MatchString(s), "16 lower-case hex digits in a string")
			case k == "session":
				s, _ := val.(string)
				check(hexSession.MatchString(s), "8 lower-case hex digits in a string")
			case k == "addr" || k == "from" || k == "to" || k == "peer" || k == "group":
				s, _ := val.(string)
				_, err := netip.ParseAddrPort(s)
				check(err == nil, "host:port")
			case k == "time":
				s, _ := val.(string)
				_, err := time.Parse(time.RFC3339Nano, s)
				check(err == nil && strings.HasSuffix(s, "Z"), "an RFC 3339 time in UTC")
			}
			switch x := val.(type) {
			case map[string]any:
				walk(p, x)
			case []any:
				for _, e := range x {
					if em, ok := e.(map[string]any); ok {
						walk(p+"[]", em)
					}
				}
			}
		}
	}
	walk("", v)
}

func checkJSONLines(t *testing.T, cmd, out string) int {
	t.Helper()
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" {
			checkJSONLine(t, cmd, l)
			n++
		}
	}
	if n == 0 {
		t.Errorf("%s: no JSON line", cmd)
	}
	return n
}

// TestJSONFieldsUnicast: send, ping, bench, ifaces and udpserver's records,
// over loopback.
func TestJSONFieldsUnicast(t *testing.T) {
	r := responder(t, "127.0.0.1:0", clienttest.Behavior{})
	for _, args := range [][]string{
		{"send", "--json", r.Addr(), "hello"},
		{"ping", "--json", "-c", "2", "-i", "0.01", r.Addr()},
		{"bench", "--json", "-d", "0.1", r.Addr()},
		{"ifaces", "--json", "lo"},
	} {
		out, stderr, code := runCLI(t, "", args...)
		if code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
			continue
		}
		checkJSONLines(t, args[0], out)
	}
	// A NACK: code and reason.
	nr := responder(t, "127.0.0.1:0", clienttest.Behavior{Nack: wire.CodeRejected, NackReason: "no thanks"})
	out, _, _ := runCLI(t, "", "send", "--json", nr.Addr(), "x")
	checkJSONLines(t, "send (rejected)", out)
	// ping to nothing: an error line.
	out, _, _ = runCLI(t, "", "ping", "--json", "-c", "1", "-W", "0.2", deadPort(t))
	checkJSONLines(t, "ping (refused)", out)

	// udpserver's records: a DATA message and a raw datagram.
	if testing.Short() {
		return
	}
	bin := filepath.Join(t.TempDir(), "udpserver")
	if o, err := exec.Command("go", "build", "-o", bin, "../udpserver").CombinedOutput(); err != nil {
		t.Fatalf("go build udpserver: %v\n%s", err, o)
	}
	addr := "127.0.0.1:" + strconv.Itoa(freeUDPPort(t))
	srv := exec.Command(bin, "--listen", addr, "--no-announce")
	var sout strings.Builder
	srv.Stdout = &sout
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	for i := 0; ; i++ {
		if _, _, code := runCLI(t, "", "send", "-W", "0.1", "--retries", "2", addr, "hello"); code == 0 {
			break
		} else if i == 50 {
			t.Fatal("udpserver did not acknowledge")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c, err := net.Dial("udp", addr); err == nil {
		c.Write([]byte{0xff, 0xfe}) // raw, not UTF-8: base64
		time.Sleep(100 * time.Millisecond)
		c.Close()
	}
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	if n := checkJSONLines(t, "udpserver", sout.String()); n < 2 {
		t.Errorf("udpserver wrote %d records, want 2: %s", n, sout.String())
	}
}

// TestJSONFieldsLAN: discover, watch, mcast listen, send and test, in a
// namespace LAN of two hosts.
func TestJSONFieldsLAN(t *testing.T) {
	lab, bin := labFor(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	h0, h1 := lab.Host(0), lab.Host(1)
	startServer(t, h0, "fields")

	out, err := h1.Command(ctx, bin, "discover", "--json", "-c", "1", "-w", "5").Output()
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	checkJSONLines(t, "discover", out2s(out))

	w := h1.Command(ctx, bin, "watch", "--json")
	wout, _ := w.StdoutPipe()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(wout).ReadString('\n')
	w.Process.Kill()
	w.Wait()
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	checkJSONLines(t, "watch", line)

	const group = "239.255.78.31:5031"
	listen, lout := startListen(t, ctx, h0, bin, 0, "--json", "-c", "1", "-w", "10", group)
	time.Sleep(300 * time.Millisecond) // --json prints no "joined" line: let it join
	sout, err := h1.Command(ctx, bin, "mcast", "send", "--json", "-c", "1", group, "hello").Output()
	if err != nil {
		t.Fatalf("mcast send: %v", err)
	}
	checkJSONLines(t, "mcast send", out2s(sout))
	listen.Wait()
	checkJSONLines(t, "mcast listen", lout.String())

	args := map[int][]string{}
	for i := range 2 {
		args[i] = []string{"mcast", "test", "239.255.78.32:5032", h0.IPv4.String(), h1.IPv4.String(),
			"-c", "3", "-i", "0.01", "-s", "8", "--json", "-v"}
	}
	res := runHosts(t, lab, bin, args)
	for i, r := range res {
		if r.code != 0 {
			t.Errorf("mcast test on host %d: exit %d: %s", i, r.code, r.err)
		}
		checkJSONLines(t, "mcast test", r.out)
		// -s 8: 8 bytes after the probe's header, and "size" says 8.
		sizes := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(r.out), "\n") {
			var e struct {
				Type string `json:"type"`
				Size *int   `json:"size"`
			}
			if json.Unmarshal([]byte(l), &e) == nil && e.Type == "probe" && e.Size != nil {
				sizes[strconv.Itoa(*e.Size)] = true
			}
		}
		keys := make([]string, 0, len(sizes))
		for k := range sizes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if strings.Join(keys, ",") != "8" {
			t.Errorf("host %d: probe sizes %v, want only 8 (-s 8)", i, keys)
		}
	}
}

// TestJSONFieldsInREADME: README.md's "JSON fields" table names every field.
func TestJSONFieldsInREADME(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "### JSON fields")
	if !ok {
		t.Fatal(`README.md has no "### JSON fields" section`)
	}
	table, _, _ = strings.Cut(table, "\n#")
	for k := range jsonFields {
		if !strings.Contains(table, "`"+k+"`") {
			t.Errorf("README.md's JSON fields table lacks `%s`", k)
		}
	}
}

func out2s(b []byte) string { return string(b) }
