package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/wire"
)

// rawForger sends forged IPv4 datagrams from one host of a lab through one
// raw socket, opened in the host's namespace (it stays there).
type rawForger struct{ fd int }

func newRawForger(t *testing.T, h *netlab.Host) *rawForger {
	t.Helper()
	f := &rawForger{fd: -1}
	if err := h.Do(func() (err error) {
		if f.fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW); err != nil {
			return err
		}
		return syscall.SetsockoptInt(f.fd, syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
	}); err != nil {
		t.Skipf("skipping: no raw socket in the lab: %v", err)
	}
	t.Cleanup(func() { syscall.Close(f.fd) })
	return f
}

func (f *rawForger) send(src, dst netip.AddrPort, payload []byte) error {
	return syscall.Sendto(f.fd, netlab.AppendUDP4(nil, src, dst, payload), 0, &syscall.SockaddrInet4{Addr: dst.Addr().As4()})
}

// TestDiscoverFloodOfForgedNames (issue 14 item 3, "4200 forged names do
// not hide a real server"): an attacker floods the LAN's broadcast address
// with ANNOUNCEs of 4200 distinct names of the servers' service type, each
// from a spoofed on-link source address, before and while udpcli discover
// runs with its default deadline. The servers share a broadcast query's
// answer budget among the peers they rank; forged peers must not take it,
// or the real servers are left out of every round. Every run finds every
// real server.
func TestDiscoverFloodOfForgedNames(t *testing.T) {
	srvBin, cli := build(t)
	const nServers = 4
	lab := newLab(t, netlab.Config{Hosts: nServers + 3})
	var servers []*server
	var want []string
	for i := range nServers {
		name := fmt.Sprintf("real-%d", i)
		want = append(want, name)
		servers = append(servers, labServer(t, lab.Host(i), srvBin, "--quiet", "--instance", name))
	}
	waitAnnounced(t, servers)
	client, attacker, watchHost := lab.Host(nServers), lab.Host(nServers+1), lab.Host(nServers+2)
	// Evidence that the forged names reach every host: a socket on the
	// discovery port of a bystander counts the names it hears.
	heard := newVictim(t, watchHost, 9798)
	heard.c.SetReadBuffer(4 << 20)
	f := newRawForger(t, attacker)
	b4 := lab.Host(0).IPv4.As4()
	bcast := netip.AddrPortFrom(netip.AddrFrom4([4]byte{b4[0], b4[1], b4[2], 255}), 9798)
	n := 0
	forge := func(count int) {
		for range count {
			i := n
			n++
			// On-link sources 198.18.0.100-249: no lab host has them.
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{b4[0], b4[1], b4[2], byte(100 + i%150)}), 9798)
			b := forgedRecord(t, wire.TypeAnnounce, uint64(1<<40+i), fmt.Sprintf("forged-%05d", i), 1<<32-1, src.Addr())
			if err := f.send(src, bcast, b); err != nil {
				t.Fatal(err)
			}
			if i%10 == 9 {
				time.Sleep(3 * time.Millisecond) // within the receivers' socket buffers
			}
		}
	}
	names := func() int {
		heard.mu.Lock()
		defer heard.mu.Unlock()
		k := 0
		for id := range heard.byID { // one message ID per forged name
			if id >= 1<<40 && id < 1<<40+uint64(n) {
				k++
			}
		}
		return k
	}
	for n < 4200 || n < 20000 && names() < 4200 {
		forge(100)
		time.Sleep(50 * time.Millisecond)
	}
	if got := names(); got < 4200 {
		t.Fatalf("only %d of %d forged names arrived at a bystander: the test proves nothing", got, n)
	}
	t.Logf("before: %d forged ANNOUNCEs sent, %d distinct ones heard by a bystander", n, names())
	// And during: the flood goes on while the browses run.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			forge(100)
			time.Sleep(50 * time.Millisecond)
		}
	})
	defer func() { close(stop); wg.Wait() }()
	for run := range 5 {
		res, code, stderr := discover(t, client, cli)
		var got []string
		for _, r := range res {
			got = append(got, r.Instance)
		}
		slices.Sort(got)
		t.Logf("run %d: exit %d, found %v", run+1, code, got)
		for _, name := range want {
			if !slices.Contains(got, name) {
				t.Errorf("run %d: %s not found among %v (exit %d): %s", run+1, name, got, code, stderr)
			}
		}
	}
}
