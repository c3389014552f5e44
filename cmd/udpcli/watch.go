package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/wire"
)

func setupWatch(fs *pflag.FlagSet) func(ctx context.Context, io cli.IO, args []string) error {
	var ifaces []string
	cliflag.Interfaces(fs, &ifaces)
	asJSON := cliflag.JSON(fs)
	parsable := fs.BoolP("parsable", "p", false, "print avahi-browse style ';'-separated lines starting with +, = or -")
	passive := fs.Bool("passive", false, "only listen; do not query at the start")
	loadKeys := cliflag.KeyFile(fs)
	return func(ctx context.Context, io cli.IO, args []string) error {
		if len(args) > 1 {
			return cli.Usagef("at most one SERVICE, got %d arguments", len(args))
		}
		if *asJSON && *parsable {
			return cli.Usagef("--json and -p exclude each other")
		}
		service := ""
		if len(args) == 1 {
			service = args[0]
			if err := wire.ValidateService(service); err != nil {
				return cli.Usagef("%v", err)
			}
		}
		keys, _, err := loadKeys()
		if err != nil {
			return cli.Usagef("%v", err)
		}
		w, err := discovery.NewWatcher(discovery.WatcherConfig{Interfaces: ifaces, Passive: *passive, Keys: keys})
		if err != nil {
			return err
		}
		defer w.Close()
		enc := json.NewEncoder(io.Out)
		return w.Watch(ctx, service, func(e discovery.Event) {
			switch {
			case *asJSON:
				enc.Encode(watchObject(e))
			case *parsable:
				io.Out.Write([]byte(avahiEvent(e)))
			default:
				fmt.Fprintln(io.Out, watchLine(e))
			}
		})
	}
}

// watchLine is an event as watch prints it: "15:04:05.000 up NAME SERVICE
// IFACE ADDRS (REASON)", the time in the event's location, then
// "(conflict: OTHERS)" when another source claims the name (as discover
// prints it): a contested name is never shown without the mark.
func watchLine(e discovery.Event) string {
	in := e.Instance
	line := fmt.Sprintf("%s %-6s %-24s %-16s %-10s %s (%s)", e.Time.Format("15:04:05.000"), e.Kind,
		in.Instance, in.Service, in.Interface, joinAddrs(in.Addrs, ","), e.Reason)
	if in.Conflict {
		line += "  (conflict: " + joinAddrs(in.Others, ", ") + ")"
	}
	return line
}

// watchObject is a line of watch --json: one flat object, discover's
// fields after the event's type, reason and time ("instance" is the name,
// as in discover --json).
func watchObject(e discovery.Event) object {
	return append(object{"type", e.Kind.String(), "reason", e.Reason, "time", e.Time.UTC().Format(time.RFC3339Nano)},
		instanceObject(e.Instance, omitted{}, msNumber(e.Instance.TTL))...)
}
