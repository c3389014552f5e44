package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/discovery"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/wire"
)

func init() {
	app.Register(&cli.Command{
		Name:    "watch",
		Summary: "report udpkit servers coming and going",
		Usage:   helpText("watch"),
		Setup:   setupWatch,
	})
}

func setupWatch(fs *pflag.FlagSet) func(ctx context.Context, io cli.IO, args []string) error {
	ifaces := new([]string)
	ifaceFlag(fs, ifaces)
	asJSON := fs.Bool("json", false, "print one JSON object per event and line")
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
			return cli.Usagef("--key-file: %v", err)
		}
		w, err := discovery.NewWatcher(discovery.WatcherConfig{Interfaces: *ifaces, Passive: *passive, Keys: keys})
		if err != nil {
			return err
		}
		defer w.Close()
		enc := json.NewEncoder(io.Out)
		return w.Watch(ctx, service, func(e discovery.Event) {
			switch {
			case *asJSON:
				// One flat object: discover's fields with the event's
				// type, reason and time ("instance" is the name, as
				// in discover --json).
				enc.Encode(struct {
					Type   string `json:"type"`
					Reason string `json:"reason"`
					Time   string `json:"time"`
					instanceJSON
				}{e.Kind.String(), e.Reason, e.Time.UTC().Format(time.RFC3339Nano), toJSON(e.Instance)})
			case *parsable:
				printParsable(io.Out, e)
			default:
				in := e.Instance
				fmt.Fprintf(io.Out, "%s %-6s %-24s %-16s %-10s %s (%s)\n", e.Time.Format("15:04:05.000"), e.Kind,
					in.Instance, in.Service, in.Interface, addrString(in.Addrs), e.Reason)
			}
		})
	}
}

func printParsable(w io.Writer, e discovery.Event) {
	switch e.Kind {
	case discovery.Up:
		printAvahi(w, '+', e.Instance)
		printAvahi(w, '=', e.Instance)
	case discovery.Update:
		printAvahi(w, '=', e.Instance) // resolved again, as avahi-browse does
	case discovery.Down:
		printAvahi(w, '-', e.Instance)
	}
}

// printAvahi writes the lines of avahi-browse -p for in, field for field:
//
//	+;IFACE;PROTO;NAME;TYPE;DOMAIN                        (found; one per protocol)
//	=;IFACE;PROTO;NAME;TYPE;DOMAIN;HOST;ADDR;PORT;TXT     (resolved; one per address)
//	-;IFACE;PROTO;NAME;TYPE;DOMAIN                        (gone; one per protocol)
//
// PROTO is IPv4 or IPv6, DOMAIN is "local" (the LAN), HOST is the address
// itself (udpkit announcements carry no host name), TXT the attributes,
// each in double quotes. NAME is escaped as avahi escapes it: letters,
// digits, '-' and '_' as they are, '.' and '\' after a backslash, every
// other byte as \DDD in decimal.
func printAvahi(w io.Writer, sign byte, in discovery.Instance) {
	for _, proto := range avahiProtos {
		avahiLines(w, sign, proto, in, netip.Addr.String)
	}
}

// avahiProtos are the PROTO fields, in avahi-browse's order.
var avahiProtos = []string{"IPv4", "IPv6"}

// avahiLines writes in's lines of one PROTO; host gives the HOST field of
// an address (without its zone).
func avahiLines(w io.Writer, sign byte, proto string, in discovery.Instance, host func(netip.Addr) string) {
	var addrs []netip.AddrPort
	for _, a := range in.Addrs {
		if a.Addr().Unmap().Is4() == (proto == "IPv4") {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return
	}
	head := fmt.Sprintf("%c;%s;%s;%s;%s;local", sign, in.Interface, proto, avahiEscape(in.Instance), in.Service)
	if sign != '=' {
		fmt.Fprintln(w, head)
		return
	}
	txt := make([]string, len(in.Attrs))
	for i, a := range in.Attrs {
		txt[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
	}
	for _, a := range addrs {
		addr := a.Addr().WithZone("")
		fmt.Fprintf(w, "%s;%s;%s;%d;%s\n", head, host(addr), addr, a.Port(), strings.Join(txt, " "))
	}
}

// avahiEscape escapes a name as avahi-browse -p prints it.
func avahiEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case c == '.' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03d", c)
		}
	}
	return b.String()
}
