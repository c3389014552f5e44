package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/wire"
)

func init() {
	register(&command{
		name:    "watch",
		summary: "report udpkit servers coming and going",
		usage: `Usage: udpcli watch [flags] [SERVICE]

Listens on port 9798 (shared with any server on this host) of every
selected interface for announcements and goodbyes of SERVICE (default:
every service) and prints a line when an instance comes up, changes, or
goes down: at its goodbye, or when its TTL passes without a new
announcement (a server that was killed). Unless --passive is given, it
also queries once at the start, so that running servers show up at once.
Runs until interrupted; exits 0.

Output: one line per event; with -p, avahi-browse style lines
  +;IFACE;INSTANCE;SERVICE;ADDR,ADDR;PORT;"key=value" ...   (up)
  =;...                                                      (update)
  -;IFACE;INSTANCE;SERVICE;ADDR,ADDR;PORT;reason             (down)
with --json one object per event: {"event":"up","reason":...,"time":...,"instance":{...}}.

Examples:
  udpcli watch
  udpcli watch -p _udpkit._udp
  udpcli watch -I eth0 --json`,
		setup: setupWatch,
	})
}

func setupWatch(fs *pflag.FlagSet) func(ctx context.Context, io stdio, args []string) error {
	ifaces := new([]string)
	ifaceFlag(fs, ifaces)
	asJSON := fs.Bool("json", false, "print one JSON object per event and line")
	parsable := fs.BoolP("parsable", "p", false, "print avahi-browse style ';'-separated lines starting with +, = or -")
	passive := fs.Bool("passive", false, "only listen; do not query at the start")
	return func(ctx context.Context, io stdio, args []string) error {
		if len(args) > 1 {
			return usagef("at most one SERVICE, got %d arguments", len(args))
		}
		if *asJSON && *parsable {
			return usagef("--json and -p exclude each other")
		}
		service := ""
		if len(args) == 1 {
			service = args[0]
			if err := wire.ValidateService(service); err != nil {
				return usagef("%v", err)
			}
		}
		w, err := discovery.NewWatcher(discovery.WatcherConfig{Interfaces: *ifaces, Passive: *passive})
		if err != nil {
			return err
		}
		defer w.Close()
		enc := json.NewEncoder(io.out)
		return w.Watch(ctx, service, func(e discovery.Event) {
			switch {
			case *asJSON:
				enc.Encode(struct {
					Event    string       `json:"event"`
					Reason   string       `json:"reason"`
					Time     time.Time    `json:"time"`
					Instance instanceJSON `json:"instance"`
				}{e.Kind.String(), e.Reason, e.Time, toJSON(e.Instance)})
			case *parsable:
				printParsable(io.out, e)
			default:
				in := e.Instance
				fmt.Fprintf(io.out, "%s %-6s %-24s %-16s %-10s %s (%s)\n", e.Time.Format("15:04:05.000"), e.Kind,
					in.Instance, in.Service, in.Interface, addrString(in.Addrs), e.Reason)
			}
		})
	}
}

func printParsable(w io.Writer, e discovery.Event) {
	in := e.Instance
	var addrs []string
	port := 0
	for _, a := range in.Addrs {
		addrs = append(addrs, a.Addr().String())
		port = int(a.Port())
	}
	sign := map[discovery.EventKind]string{discovery.Up: "+", discovery.Update: "=", discovery.Down: "-"}[e.Kind]
	last := e.Reason
	if e.Kind != discovery.Down {
		q := make([]string, len(in.Attrs))
		for i, a := range in.Attrs {
			q[i] = strconv.Quote(a)
		}
		last = strings.Join(q, " ")
	}
	fmt.Fprintf(w, "%s;%s;%s;%s;%s;%d;%s\n", sign, in.Interface, escapeSemi(in.Instance), in.Service, strings.Join(addrs, ","), port, last)
}

// escapeSemi escapes ';' and '\' in names the way avahi-browse -p does
// (as \059 and \092).
func escapeSemi(s string) string {
	return strings.NewReplacer(`\`, `\092`, `;`, `\059`).Replace(s)
}
