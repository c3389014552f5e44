// Command mdnspeer is the hashicorp/mdns side of the discovery comparison
// (bench/discobench, BENCHMARKS.md): an mDNS responder for one service
// instance, or a browser that reports how long it took to find N instances.
// It is a module of its own, so that the udpkit module does not depend on
// hashicorp/mdns; build it with
//
//	cd bench/mdnspeer && go build -o /tmp/mdnspeer .
//
// Usage:
//
//	mdnspeer serve  -instance NAME [-service _udpkit._udp] [-port 9797] [-iface eth0] [-ip ADDR]...
//	mdnspeer browse -n N [-service _udpkit._udp] [-timeout 10s] [-iface eth0]
//
// browse asks the way hashicorp/mdns's Lookup does (one PTR query, answers
// collected for a second) and asks again every second until N distinct
// complete instances arrived or the timeout passed. It prints one JSON
// object: instances found, milliseconds until the N-th (or -1) and rounds.
//
// Run it only inside a network namespace of a lab (it multicasts).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/mdns"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mdnspeer serve|browse [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "browse":
		err = browse(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want serve or browse", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mdnspeer:", err)
		os.Exit(1)
	}
}

type ipList []net.IP

func (l *ipList) String() string { return fmt.Sprint(*l) }
func (l *ipList) Set(s string) error {
	ip := net.ParseIP(s)
	if ip == nil {
		return fmt.Errorf("bad IP address %q", s)
	}
	*l = append(*l, ip)
	return nil
}

func iface(name string) (*net.Interface, error) {
	if name == "" {
		return nil, nil
	}
	return net.InterfaceByName(name)
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	instance := fs.String("instance", "", "instance name (required)")
	service := fs.String("service", "_udpkit._udp", "service type")
	port := fs.Int("port", 9797, "port announced")
	ifname := fs.String("iface", "eth0", "interface to answer on")
	var ips ipList
	fs.Var(&ips, "ip", "address announced (repeatable; default: the interface's)")
	fs.Parse(args)
	if *instance == "" {
		return fmt.Errorf("serve: -instance is required")
	}
	ifi, err := iface(*ifname)
	if err != nil {
		return err
	}
	if len(ips) == 0 && ifi != nil {
		addrs, err := ifi.Addrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
				ips = append(ips, n.IP)
			}
		}
	}
	host, _ := os.Hostname()
	zone, err := mdns.NewMDNSService(*instance, *service, "local.", *instance+"."+strings.TrimSuffix(host, ".")+".local.", *port, ips, []string{"v=1"})
	if err != nil {
		return err
	}
	srv, err := mdns.NewServer(&mdns.Config{Zone: zone, Iface: ifi, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return nil
}

func browse(args []string) error {
	fs := flag.NewFlagSet("browse", flag.ExitOnError)
	n := fs.Int("n", 1, "instances to find")
	service := fs.String("service", "_udpkit._udp", "service type")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	ifname := fs.String("iface", "eth0", "interface to ask on")
	fs.Parse(args)
	ifi, err := iface(*ifname)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	seen := map[string]bool{}
	foundAfter := -1.0
	rounds := 0
	for ctx.Err() == nil && len(seen) < *n {
		rounds++
		entries := make(chan *mdns.ServiceEntry, 64)
		done := make(chan struct{})
		rctx, rcancel := context.WithCancel(ctx)
		go func() {
			defer close(done)
			for e := range entries {
				if !seen[e.Name] {
					seen[e.Name] = true
					if len(seen) == *n {
						foundAfter = float64(time.Since(start).Microseconds()) / 1000
						rcancel()
					}
				}
			}
		}()
		p := &mdns.QueryParam{Service: *service, Domain: "local", Timeout: time.Second, Interface: ifi,
			Entries: entries, Logger: log.New(io.Discard, "", 0)}
		err := mdns.QueryContext(rctx, p)
		close(entries)
		<-done
		rcancel()
		if err != nil && rctx.Err() == nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"found": len(seen), "found_after_ms": foundAfter, "rounds": rounds,
	})
}
