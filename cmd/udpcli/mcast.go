package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/multicast"
	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// setupMcast is the command that holds the subcommands: only --help.
func setupMcast(fs *pflag.FlagSet) func(ctx context.Context, io cli.IO, args []string) error {
	// A real flag, so that the help shows it under "Flags:".
	fs.BoolP("help", "h", false, "show this help (and 'udpcli mcast SUBCOMMAND --help' for a subcommand's)")
	return nil
}

// mcastFlags are the flags every mcast subcommand has.
type mcastFlags struct {
	ifaces []string
	json   *bool
	quiet  bool
}

// mcastCommon registers the flags every mcast subcommand has, first.
func mcastCommon(fs *pflag.FlagSet) *mcastFlags {
	f := &mcastFlags{}
	cliflag.Interfaces(fs, &f.ifaces)
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "print no line per datagram, only the summary (mcast test prints only that by default)")
	f.json = cliflag.JSON(fs)
	return f
}

// parseGroup parses GROUP[:PORT] (multicast.ParseGroup) and --source
// for it (multicast.ParseSource; "": none).
func parseGroup(s, source string) (netip.AddrPort, netip.Addr, error) {
	g, err := multicast.ParseGroup(s)
	if err != nil {
		return g, netip.Addr{}, cli.Usagef("%v", err)
	}
	src, err := multicast.ParseSource(source, g.Addr())
	if err != nil {
		return g, src, cli.Usagef("bad --source %q: want a unicast address of the group's family", source)
	}
	return g, src, nil
}

// parsePeers parses the PEER list, this host left out
// (multicast.ParsePeers); an unknown name exits 2, as ping does, without
// the hint.
func parsePeers(list []string, group netip.AddrPort) ([]netip.AddrPort, error) {
	p, err := multicast.ParsePeers(list, group, lookupHost)
	switch {
	case errors.Is(err, multicast.ErrUnresolved):
		return p, &cli.ExitError{Code: cli.ExitUsage, Err: err}
	case err != nil:
		return p, cli.Usagef("%v", err)
	}
	return p, nil
}

// portTaken adds what to do to a bind error for a group port another
// program holds: udpserver's default port is the groups' default too.
func portTaken(err error, group netip.AddrPort) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return err
	}
	why := "another program holds it"
	if group.Port() == wire.DataPort {
		why = "a udpserver on this host listens on it by default"
	}
	return fmt.Errorf("%w: port %d is taken (%s); pick another with GROUP:PORT, on every participant", err, group.Port(), why)
}

// lookupHost resolves a peer's host name (a variable for tests).
var lookupHost = func(name string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(context.Background(), "ip", name)
}

// selectInterfaces resolves -I for a group's family (netif.SelectGroup),
// warning on stderr about selected interfaces that cannot carry it.
func selectInterfaces(specs []string, group netip.Addr, w io.Writer) ([]netif.Interface, error) {
	list, skipped, err := netif.SelectGroup(specs, group)
	for _, s := range skipped {
		fmt.Fprintf(w, "udpcli mcast: skipping %s: %s\n", s.Name, s.Reason)
	}
	if err != nil {
		if errors.Is(err, netif.ErrNoFamily) {
			return nil, cli.Failed(err)
		}
		return nil, cli.Usagef("%v", err)
	}
	return list, nil
}

func setupMcastListen(fs *pflag.FlagSet) func(ctx context.Context, io cli.IO, args []string) error {
	f := mcastCommon(fs)
	source := fs.String("source", "", "source-specific join (SSM): receive only from this address")
	count := cliflag.Count(fs, "count", "c", 0, 0, "exit after this many datagrams (0: run until interrupted)")
	deadline := cliflag.Seconds(fs, "deadline", "w", 0, "exit after this many seconds (0.5) or this long (500ms); 0: no deadline")
	return func(ctx context.Context, io cli.IO, args []string) error {
		if len(args) != 1 {
			return cli.Usagef("want exactly one GROUP[:PORT], got %d arguments", len(args))
		}
		group, src, err := parseGroup(args[0], *source)
		if err != nil {
			return err
		}
		ifs, err := selectInterfaces(f.ifaces, group.Addr(), io.Err)
		if err != nil {
			return err
		}
		c, err := multicast.Listen(ctx, group, multicast.Config{Interfaces: ifs, Source: src, ReuseAddr: true})
		if err != nil {
			return err
		}
		defer c.Close()
		for _, m := range c.Memberships() {
			if m.Err != nil {
				fmt.Fprintf(io.Err, "udpcli mcast listen: %v\n", m.Err)
			} else if !*f.json {
				fmt.Fprintf(io.Err, "joined %v on %s%s\n", group, m.Interface.Name, sourceSuffix(src))
			}
		}
		if *deadline > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *deadline)
			defer cancel()
		}
		enc := json.NewEncoder(io.Out)
		start := time.Now()
		n, err := c.Receive(ctx, *count, func(p multicast.Packet, data []byte) {
			text := printable(data)
			switch {
			case f.quiet:
			case *f.json:
				// from and to as udpserver's records; text as theirs, the payload as text
				enc.Encode(object{"time", time.Now().UTC().Format(time.RFC3339Nano), "from", p.Src, "to", omit(netip.AddrPortFrom(p.Dst, group.Port())),
					"group", group, "multicast", p.Multicast, "interface", p.Interface, "ttl", p.TTL, "size", p.N, "text", omit(text)})
			case text != "":
				fmt.Fprintln(io.Out, packetLine(p), strconv.Quote(text))
			default:
				fmt.Fprintln(io.Out, packetLine(p))
			}
		})
		why := "count reached"
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			why = "deadline reached"
		case ctx.Err() != nil:
			why = "interrupted"
		case err != nil:
			why = "error"
		}
		fmt.Fprintf(io.Err, "%s received from %v in %.1fs (%s)\n", plural(n, "datagram"), group, time.Since(start).Seconds(), why)
		switch {
		case why == "error":
			return cli.Failed(err)
		case n == 0, *count > 0 && n < *count && why == "deadline reached":
			return cli.Failed(nil)
		}
		return nil
	}
}

// packetLine is a datagram as listen prints it: "SRC > DST on IFACE ttl=N
// SIZE bytes", with "?" and "-" for what is unknown.
func packetLine(p multicast.Packet) string {
	dst := "?"
	if p.Dst.IsValid() {
		dst = p.Dst.String()
	}
	return fmt.Sprintf("%v > %s on %s ttl=%s %d bytes", p.Src, dst, orDash(p.Interface), ttlString(p.TTL), p.N)
}

func sourceSuffix(src netip.Addr) string {
	if src.IsValid() {
		return " from source " + src.String()
	}
	return ""
}

func setupMcastSend(fs *pflag.FlagSet) func(ctx context.Context, io cli.IO, args []string) error {
	f := mcastCommon(fs)
	ttl := cliflag.Int(fs, "ttl", "", multicast.DefaultTTL, 1, 255, "TTL (IPv6: hop limit) of the datagrams, 1..255")
	loop := fs.Bool("loop", false, "deliver to members on this host too (IP_MULTICAST_LOOP)")
	count := cliflag.Count(fs, "count", "c", 1, 1, "number of datagrams per interface")
	interval := cliflag.Seconds(fs, "interval", "i", time.Second, "time between datagrams: seconds (0.05) or a duration (50ms)")
	return func(ctx context.Context, io cli.IO, args []string) error {
		if len(args) < 1 || len(args) > 2 {
			return cli.Usagef("want GROUP[:PORT] [MESSAGE], got %d arguments", len(args))
		}
		group, _, err := parseGroup(args[0], "")
		if err != nil {
			return err
		}
		ifs, err := selectInterfaces(f.ifaces, group.Addr(), io.Err)
		if err != nil {
			return err
		}
		c, err := multicast.Dial(ctx, group, multicast.Config{Interfaces: ifs, TTL: *ttl, Loopback: *loop})
		if err != nil {
			return err
		}
		defer c.Close()
		enc := json.NewEncoder(io.Out)
		payload := func(seq int) []byte {
			if len(args) == 2 {
				return []byte(args[1])
			}
			return fmt.Appendf(nil, "udpcli mcast send %d", seq)
		}
		st := c.Repeat(ctx, *count, *interval, payload, func(s multicast.Sent) {
			if *f.json {
				var text string
				if s.Err != nil {
					text = s.Err.Error()
				}
				enc.Encode(object{"seq", s.Seq, "group", group, "from", s.Source, "interface", s.Interface.Name, "ttl", *ttl, "size", s.Size, "error", omit(text)})
			} else if s.Err != nil {
				fmt.Fprintf(io.Err, "udpcli mcast send: %v\n", s.Err)
			} else if !f.quiet {
				fmt.Fprintf(io.Out, "sent %d bytes to %v on %s ttl=%d seq=%d\n", s.Size, group, s.Interface.Name, *ttl, s.Seq)
			}
		})
		if st.Interrupted {
			fmt.Fprintf(io.Err, "udpcli mcast send: interrupted: %d of %s sent\n", st.Sent, plural(st.Total, "datagram"))
		}
		switch {
		case st.Failed > 0:
			return cli.Failed(fmt.Errorf("%s could not be sent", plural(st.Failed, "datagram")))
		case st.Sent == 0:
			return cli.Failed(nil)
		}
		return nil
	}
}
