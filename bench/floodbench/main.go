//go:build linux

// Command floodbench is the flooder and the victim of bench/floodbench.sh
// (BENCHMARKS.md, "Floods"). Loopback only: run it inside a network
// namespace of its own (the script uses unshare -n); the forged mode needs
// a raw socket (root in that namespace).
//
//	floodbench flood  -mode valid|garbage|forged|badtag -n 200000 -to 127.0.0.1:9797 -from 127.0.0.3[,127.0.0.4...] [-victim 127.0.0.1] [-key-file F] [-at UNIX_NS]
//	floodbench victim -to 127.0.0.1:9797 -rate 1000 -for 3s [-key-file F]
//	floodbench pick   -sockets N -mul M -victim 127.0.0.1 -same|-other [-count K]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/internal/sockopt"
	"github.com/udpkit/udpkit/wire"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: floodbench flood|victim|pick [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "flood":
		err = flood(os.Args[2:])
	case "victim":
		err = victim(os.Args[2:])
	case "pick":
		err = pick(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floodbench:", err)
		os.Exit(1)
	}
}

// pick prints count loopback addresses (127.0.0.3 and up, comma
// separated) whose datagrams the source-spreading program with multiplier
// mul (udpserver --spread-multiplier) puts on the victim's socket (-same:
// the worst case, one host in N shares it) or on another one (-other).
func pick(args []string) error {
	fs := flag.NewFlagSet("pick", flag.ExitOnError)
	n := fs.Int("sockets", 1, "sockets")
	mul := fs.Uint("mul", 0x9e3779b1, "the server's --spread-multiplier")
	victim := fs.String("victim", "127.0.0.1", "the victim's address")
	same := fs.Bool("same", false, "an address on the victim's socket")
	other := fs.Bool("other", false, "an address on another socket than the victim's")
	count := fs.Int("count", 1, "how many addresses")
	fs.Parse(args)
	a, err := netip.ParseAddr(*victim)
	if err != nil {
		return err
	}
	if *same == *other {
		return fmt.Errorf("pick: one of -same and -other")
	}
	if *count < 1 {
		return fmt.Errorf("pick: -count %d", *count)
	}
	sp := sockopt.Spread{Sockets: *n, Mul: uint32(*mul) | 1}
	var out []string
	for i := 3; i < 255 && len(out) < *count; i++ {
		c := netip.AddrFrom4([4]byte{127, 0, 0, byte(i)})
		if (sp.Index(c) == sp.Index(a)) == *same {
			out = append(out, c.String())
		}
	}
	if len(out) < *count {
		return fmt.Errorf("pick: %d addresses found, want %d", len(out), *count)
	}
	fmt.Println(strings.Join(out, ","))
	return nil
}

func flood(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ExitOnError)
	mode := fs.String("mode", "valid", "valid, garbage, forged or badtag")
	n := fs.Int("n", 200000, "datagrams to send")
	to := fs.String("to", "127.0.0.1:9797", "server")
	from := fs.String("from", "127.0.0.3", "source addresses, comma separated: one socket each, sent from in turn (valid, garbage, badtag)")
	victimIP := fs.String("victim", "127.0.0.1", "address to forge (forged)")
	size := fs.Int("size", 64, "payload bytes")
	at := fs.Int64("at", 0, "start sending at this Unix time in ns (0: at once), so that several flood processes begin together")
	fs.Parse(args)
	dst, err := netip.ParseAddrPort(*to)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	payload := make([]byte, *size)
	if *at != 0 {
		time.Sleep(time.Until(time.Unix(0, *at)))
	}
	start := time.Now()
	sent := 0
	switch *mode {
	case "forged":
		v, err := netip.ParseAddr(*victimIP)
		if err != nil {
			return err
		}
		sent, err = forge(v, dst, *n, payload, r)
		if err != nil {
			return err
		}
	case "valid", "garbage", "badtag":
		var cs []*net.UDPConn
		for _, f := range strings.Split(*from, ",") {
			src, err := netip.ParseAddr(f)
			if err != nil {
				return err
			}
			c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(dst))
			if err != nil {
				return err
			}
			defer c.Close()
			go drain(c) // replies (NACKs, cookies) are read and thrown away
			cs = append(cs, c)
		}
		var signer *auth.Sender
		if *mode == "badtag" {
			// A key nobody else has, with the key ID of the bench's key (1).
			k, err := auth.GenerateKey(1, auth.RoleCurrent)
			if err != nil {
				return err
			}
			kr, err := auth.NewKeyring(k)
			if err != nil {
				return err
			}
			if signer, err = auth.NewSender(kr, auth.SenderConfig{}); err != nil {
				return err
			}
		}
		b := make([]byte, 0, 2048)
		id := r.Uint64() >> 12
		for i := range *n {
			c := cs[i%len(cs)]
			id++
			b = wire.AppendData(b[:0], id, payload)
			switch *mode {
			case "garbage":
				b[3] = 0x7f // udpkit magic, unknown type
				for i := wire.HeaderLen; i < len(b); i++ {
					b[i] = byte(r.Uint32())
				}
			case "badtag":
				if b, err = signer.Sign(b); err != nil {
					return err
				}
			}
			if _, err := c.Write(b); err == nil {
				sent++
			}
		}
	default:
		return fmt.Errorf("unknown -mode %q", *mode)
	}
	d := time.Since(start)
	fmt.Printf("flood %s: %d datagrams in %v (%.0f/s)\n", *mode, sent, d.Round(time.Millisecond), float64(sent)/d.Seconds())
	return nil
}

func drain(c *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		if _, err := c.Read(buf); err != nil && !isRefused(err) {
			return
		}
	}
}

func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

// forge sends n DATA from victim's address and random ports through one
// raw socket (the kernel fills in the IP checksum and ID; the UDP
// checksum is 0, allowed for IPv4).
func forge(victim netip.Addr, dst netip.AddrPort, n int, payload []byte, r *rand.Rand) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
	if err != nil {
		return 0, fmt.Errorf("raw socket (forged mode needs root in the namespace): %w", err)
	}
	defer syscall.Close(fd)
	sa := &syscall.SockaddrInet4{Addr: dst.Addr().As4()}
	pkt := make([]byte, 0, 2048)
	sent := 0
	id := r.Uint64() >> 12
	for range n {
		id++
		body := wire.AppendData(nil, id, payload)
		src := netip.AddrPortFrom(victim, uint16(1024+r.IntN(60000)))
		pkt = netlab.AppendUDP4(pkt[:0], src, dst, body)
		if err := syscall.Sendto(fd, pkt, 0, sa); err == nil {
			sent++
		}
	}
	return sent, nil
}

func victim(args []string) error {
	fs := flag.NewFlagSet("victim", flag.ExitOnError)
	to := fs.String("to", "127.0.0.1:9797", "server")
	rate := fs.Int("rate", 1000, "messages a second")
	dur := fs.Duration("for", 3*time.Second, "how long to send at most (SIGTERM stops it earlier)")
	keyFile := fs.String("key-file", "", "key file (the server's)")
	fs.Parse(args)
	cfg := client.Config{}
	if *keyFile != "" {
		kr, err := auth.LoadFile(*keyFile)
		if err != nil {
			return err
		}
		cfg.Keys = kr
	}
	ctx := context.Background()
	c, err := client.Dial(ctx, *to, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	var (
		mu      sync.Mutex
		lat     []time.Duration
		failed  int
		limited int
		wg      sync.WaitGroup
	)
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	stop, cancel := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	end := time.Now().Add(*dur)
	msgs := 0
	payload := make([]byte, 32)
	for time.Now().Before(end) && stop.Err() == nil {
		<-tick.C
		msgs++
		wg.Go(func() {
			t0 := time.Now()
			res, err := c.Send(ctx, payload)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			limited += res.RateLimited
			if err != nil {
				failed++
				return
			}
			lat = append(lat, d)
		})
	}
	wg.Wait()
	st := c.Stats()
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("victim: acked %d/%d failed %d retransmitted %d (%.2f%%) nack-rate-limited %d cookies %d p50 %v p99 %v max %v\n",
		len(lat), msgs, failed, st.Retransmitted, 100*float64(st.Retransmitted)/float64(max(msgs, 1)), limited, st.Cookies,
		q(0.50).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), q(1).Round(10*time.Microsecond))
	return nil
}
