package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/wire"
)

// TestSpoofedQueriesForger (issue 14 item 3, SECURITY.md "Spoofed
// queries"): on a namespace LAN, a forger on the attacker's host answers
// every QUERY of udpcli discover at once, from its own address, with an
// ANSWER for the real server's instance real1 listing only the forger's
// address, and sends the server spoofed QUERYs (raw socket) to use up the
// server's answers to the browser, so that the browser hears only the
// forger and prints real1 at the forger's address unmarked. The browser's
// host has IPv4 only (the forger spoofs IPv4; the server's IPv6 answers
// would otherwise reach the browser anyway). In 10 of 10 browses the real
// server must be reported, and real1 at the forger's address only marked.
//
//   - "browser's address": full-size queries with the browser's address as
//     their source, from made-up ports, 150 a second (under the server's
//     global limit) before and during the browses, and 60 at once from the
//     browser's own port as soon as its first query shows it. Before the
//     per-source limit was keyed by port, the browser's 20 answers a
//     second were used up before it asked.
//   - "many addresses": 1000 small queries a second (160 bytes, room for an
//     answer) from made-up on-link addresses and ports, which exhaust the
//     server's global limit (200 a second); the browser's full-size
//     queries draw on the reserve beyond it. The answers to the made-up
//     addresses wait in the server's kernel for ARP to fail and fill the
//     socket's send buffer: before, the server's discovery loop blocked in
//     its send and its receive queue overflowed (0 of 10 browses found
//     it); now a send waits at most 1 ms and an answer that finds the
//     buffer full goes by broadcast from the discovery-port socket.
func TestSpoofedQueriesForger(t *testing.T) {
	srvBin, cli := build(t)
	for _, mode := range []string{"browser's address", "many addresses"} {
		t.Run(mode, func(t *testing.T) {
			lab := newLab(t, netlab.Config{Hosts: 3})
			srvHost, attacker, client := lab.Host(0), lab.Host(1), lab.Host(2)
			if err := client.Do(func() error {
				return os.WriteFile("/proc/sys/net/ipv6/conf/eth0/disable_ipv6", []byte("1"), 0)
			}); err != nil {
				t.Fatalf("turning IPv6 off on the browser's host: %v", err)
			}
			srv := labServer(t, srvHost, srvBin, "--quiet", "--instance", "real1")
			waitAnnounced(t, []*server{srv})
			spoofedQueriesForger(t, mode, cli, srvHost, attacker, client)
		})
	}
}

func spoofedQueriesForger(t *testing.T, mode, cli string, srvHost, attacker, client *netlab.Host) {
	f := newRawForger(t, attacker)
	to := netip.AddrPortFrom(srvHost.IPv4, wire.DiscoveryPort)
	var id atomic.Uint64
	id.Store(1 << 50)
	var spoofed atomic.Int64
	spoof := func(src netip.AddrPort, size int) {
		q, err := wire.AppendQuery(nil, id.Add(1), wire.Query{}, size)
		if err != nil {
			t.Error(err)
			return
		}
		if f.send(src, to, q) == nil {
			spoofed.Add(1)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	// The background flood, every 10 ms.
	wg.Go(func() {
		for n := 0; ctx.Err() == nil; n++ {
			switch mode {
			case "browser's address":
				if n%2 == 0 { // 3 every 20 ms
					for k := range 3 {
						spoof(netip.AddrPortFrom(client.IPv4, uint16(20000+(3*n+k)%10000)), 1472)
					}
				}
			default:
				b := client.IPv4.As4()
				for k := range 10 {
					i := 10*n + k
					src := netip.AddrFrom4([4]byte{b[0], b[1], b[2], byte(100 + i%150)})
					spoof(netip.AddrPortFrom(src, uint16(1024+i%60000)), 160)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	// The forger's answers, and its flood of the browser's own port.
	var c net.PacketConn
	if err := attacker.Do(func() (err error) {
		c, err = net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", wire.DiscoveryPort))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var answered atomic.Int64
	wg.Go(func() {
		flooded := map[netip.AddrPort]bool{}
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			h, _, err := wire.Parse(buf[:n])
			src, ok := from.(*net.UDPAddr)
			if err != nil || h.Type != wire.TypeQuery || !ok {
				continue
			}
			b := forgedRecord(t, wire.TypeAnswer, h.ID, "real1", 120, attacker.IPv4)
			if _, err := c.WriteTo(b, from); err == nil {
				answered.Add(1)
			}
			if sp := src.AddrPort(); mode == "browser's address" && !flooded[sp] {
				flooded[sp] = true
				sp = netip.AddrPortFrom(sp.Addr().Unmap(), sp.Port())
				for range 60 {
					spoof(sp, 1472)
				}
			}
		}
	})
	go func() { <-ctx.Done(); c.Close() }()
	time.Sleep(2 * time.Second) // the flood has used up what it can

	forgerAddr := attacker.IPv4.String() + ":9797"
	srvAddr := srvHost.IPv4.String() + ":9797"
	found := 0
	for run := range 10 {
		out, code := discoverLines(t, client, cli, "-w", "1")
		if code != 0 {
			t.Fatalf("run %d: discover exit %d: %v", run, code, out)
		}
		// A server slower than the browser's 10 ms hold is reported
		// late, marked, and the forger's earlier report is repeated
		// marked: an unmarked report at the forger's address must be
		// followed by a marked one.
		srvFound, unmarked := false, false
		for _, d := range out {
			if d.Instance != "real1" || len(d.Addrs) == 0 {
				continue
			}
			switch d.Addrs[0] {
			case forgerAddr:
				unmarked = !d.Conflict || len(d.Others) == 0
			case srvAddr:
				srvFound = true
			}
		}
		if unmarked {
			t.Errorf("run %d: real1 reported at the forger's address without the conflict mark: %+v", run, out)
		}
		if srvFound {
			found++
		} else {
			t.Errorf("run %d: the real server was not reported: %+v", run, out)
		}
		t.Logf("run %d: %+v", run, out)
	}
	if answered.Load() == 0 || spoofed.Load() == 0 {
		t.Fatalf("the forger answered %d queries and spoofed %d: the test proves nothing", answered.Load(), spoofed.Load())
	}
	t.Logf("%s: the server reported in %d of 10 browses; the forger answered %d queries and spoofed %d", mode, found, answered.Load(), spoofed.Load())
}
