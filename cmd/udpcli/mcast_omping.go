package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/cliflag"
	"github.com/udpkit/udpkit/multicast"
	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

func setupMcastTest(fs *pflag.FlagSet) func(ctx context.Context, io cli.IO, args []string) error {
	f := mcastCommon(fs)
	ttl := cliflag.Int(fs, "ttl", "", multicast.DefaultTTL, 1, 255, "TTL (IPv6: hop limit) of the multicast probes, 1..255")
	loop := fs.Bool("loop", false, "deliver our own multicast probes to this host too")
	source := fs.String("source", "", "source-specific join (SSM): receive the group only from this address")
	verbose := fs.BoolP("verbose", "v", false, "print every reply and probe received")
	count := cliflag.Count(fs, "count", "c", multicast.DefaultCount, 0, "number of probes of each kind (0: until interrupted)")
	interval := cliflag.Seconds(fs, "interval", "i", multicast.DefaultInterval, "time between probes: seconds (0.05) or a duration (50ms)")
	wait := cliflag.Seconds(fs, "wait", "", multicast.DefaultStartWait, "how long to wait for the listed peers before the first probe: seconds or a duration")
	maxLoss := fs.Float64("max-loss", 5, "highest multicast loss in percent that still counts as success")
	size := cliflag.DatagramSize(fs, 0, wire.ProbeLen, wire.MaxDatagram)
	noJoin := fs.Bool("no-join", false, "do not join the group (nor send to it): answer and probe by unicast only, like a host that is not a member")
	unicastOnly := fs.Bool("unicast-only", false, "same as --no-join")
	discover := fs.Bool("discover", false, "find peers by discovery even when PEERs are given (default: only when none is)")
	noDiscover := fs.Bool("no-discover", false, "do not announce this participant nor browse for others")
	loadKeys := cliflag.KeyFile(fs)
	return func(ctx context.Context, io cli.IO, args []string) error {
		keys, _, err := loadKeys()
		switch {
		case err != nil:
			return cli.Usagef("%v", err)
		case len(args) < 1:
			return cli.Usagef("missing GROUP[:PORT]")
		}
		group, src, err := parseGroup(args[0], *source)
		if err != nil {
			return err
		}
		peers, err := parsePeers(args[1:], group)
		if err != nil {
			return err
		}
		whole, sizeErr := size()
		switch {
		case src.IsValid() && (*noJoin || *unicastOnly):
			return cli.Usagef("--source with --no-join: a participant that does not join receives no group, from any source; drop one of them")
		case *discover && *noDiscover:
			return cli.Usagef("--discover and --no-discover exclude each other")
		case *interval <= 0:
			return cli.Usagef("-i/--interval must be more than 0")
		case *maxLoss < 0 || *maxLoss > 100 || math.IsNaN(*maxLoss):
			return cli.Usagef("--max-loss %v out of range 0..100", *maxLoss)
		case sizeErr != nil:
			return cli.Usagef("%v", sizeErr)
		}
		useDiscovery := *discover || len(args) == 1 && !*noDiscover
		ifs, err := selectInterfaces(f.ifaces, group.Addr(), io.Err)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(io.Out)
		cfg := multicast.TestConfig{
			Config: multicast.Config{Interfaces: ifs, Source: src, TTL: *ttl, Loopback: *loop,
				NoJoin: *noJoin || *unicastOnly},
			Peers: peers, Count: noneIfZero(*count), Interval: *interval, StartWait: noneIfZero(*wait), Size: whole, Discover: useDiscovery, Keys: keys,
		}
		if *verbose {
			cfg.OnEvent = func(e multicast.Event) {
				if *f.json {
					enc.Encode(eventJSON(e))
					return
				}
				fmt.Fprintln(io.Out, formatEvent(e))
			}
		}
		t, err := multicast.NewTest(ctx, group, cfg)
		if err != nil {
			return portTaken(err, group)
		}
		defer t.Close()
		for _, m := range t.Conn().Memberships() {
			if m.Err != nil {
				fmt.Fprintf(io.Err, "udpcli mcast test: %v\n", m.Err)
			}
		}
		if useDiscovery {
			stop, err := t.Discover(ctx, multicast.DiscoverConfig{Interfaces: f.ifaces, OnError: func(err error) {
				fmt.Fprintf(io.Err, "udpcli mcast test: %v\n", err)
			}})
			if err != nil {
				if len(peers) == 0 {
					return cli.Failed(err)
				}
				fmt.Fprintf(io.Err, "udpcli mcast test: %v (going on with the listed peers)\n", err)
			} else {
				defer stop()
			}
		}
		if !*f.json {
			role := "joined"
			if cfg.NoJoin {
				role = "not joined (unicast only)"
			}
			disc := ""
			if useDiscovery {
				disc = " + discovery"
			}
			count := "unlimited"
			if cfg.Count > 0 {
				count = strconv.Itoa(cfg.Count)
			}
			fmt.Fprintf(io.Out, "MCAST TEST %v%s on %s, %s, ttl %d, %s listed%s, %s probes every %v (session %s)\n",
				group, sourceSuffix(src), strings.Join(netif.Selection{Interfaces: t.Conn().Interfaces()}.Names(), ","), role, *ttl, plural(len(peers), "peer"), disc,
				count, *interval, wire.SessionString(t.Session()))
		}
		r := t.Run(ctx)
		if *f.json {
			for _, p := range r.Peers {
				enc.Encode(peerJSON(p, *maxLoss))
			}
			enc.Encode(summaryJSON(r, *maxLoss))
		} else {
			writeSummary(io.Out, r, *maxLoss)
		}
		if !r.OK(*maxLoss) {
			return cli.Failed(nil)
		}
		return nil
	}
}

// eventJSON is the -v --json line of a probe or reply received: size is
// the payload after the fixed part, as -s (the -v text line gives the whole
// datagram, as omping).
func eventJSON(e multicast.Event) object {
	typ, size, rtt := "probe", max(0, e.Size-wire.ProbeLen), any(omitted{})
	if e.Reply {
		typ, size, rtt = "reply", max(0, e.Size-wire.ReplyLen), float64(e.RTT)/1e6
	}
	return object{"type", typ, "peer", e.Peer, "kind", e.Kind.String(), "seq", e.Seq, "size", size, "rtt_ms", rtt, "ttl", e.TTL,
		"interface", omit(e.Interface), "duplicate", e.Duplicate, "reordered", e.Reordered}
}

// formatEvent is the -v line, in omping's shape: "PEER : multicast, reply
// seq=3, size=40 bytes, ttl=1, time=0.120 ms", with (DUP!) or (reordered)
// after it.
func formatEvent(e multicast.Event) string {
	what, last := "probe", "on "+orDash(e.Interface)
	if e.Reply {
		what, last = "reply", "time="+msString(e.RTT)+" ms"
	}
	line := fmt.Sprintf("%v : %-9s %s seq=%d, size=%d bytes, ttl=%s, %s", e.Peer, e.Kind.String()+",", what, e.Seq, e.Size, ttlString(e.TTL), last)
	switch {
	case e.Duplicate:
		line += " (DUP!)"
	case e.Reordered:
		line += " (reordered)"
	}
	return line
}

// writeSummary prints omping's statistics: a block per peer (the loss, RTT
// and TTL of each kind, what came from the peer, the round trip, the
// interface and the status judged against maxLoss percent), then a line
// saying how many peers passed.
func writeSummary(w io.Writer, r *multicast.Report, maxLoss float64) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- %v mcast test statistics ---\n", r.Group)
	width := 0
	for _, p := range r.Peers {
		width = max(width, len(p.Peer.String()))
	}
	for _, p := range r.Peers {
		st := p.Status(maxLoss)
		name := p.Peer.String() // on the block's first line
		for _, l := range append(peerLines(p), "status    : "+st+statusDetail[st]) {
			fmt.Fprintf(&b, "%-*s  %s\n", width, name, l)
			name = ""
		}
	}
	what := "received the group"
	if !r.Joined {
		what = "answered by unicast"
	}
	if len(r.Peers) == 0 {
		b.WriteString("no peer found: nobody answered or probed this participant")
	} else {
		fmt.Fprintf(&b, "%d of %s %s within %s loss", r.PeersOK(maxLoss), plural(len(r.Peers), "peer"), what, pct(maxLoss))
	}
	if r.Interrupted {
		b.WriteString(" (interrupted)")
	}
	b.WriteByte('\n')
	if r.Ignored > 0 || r.RateLimited > 0 {
		fmt.Fprintf(&b, "not answered: %s from %s, %s over a peer's rate limit\n",
			plural(r.Ignored, "group probe"), plural(r.IgnoredSources, "unknown source"), plural(r.RateLimited, "probe"))
	}
	io.WriteString(w, b.String())
}

// peerLines are p's block of the statistics, before its status line.
func peerLines(p multicast.PeerReport) []string {
	u, m := p.Unicast, p.Multicast
	lines := []string{"unicast   : " + kindLine(u)}
	from := "from peer : unicast " + flowLine(u.From)
	trip := fmt.Sprintf("round trip: unicast %d/%d/%s", u.Sent, u.Replies, pct(u.RoundTripLoss))
	switch {
	case m != nil && m.ReceiveOnly:
		lines = append([]string{"multicast : receiver only (source-specific); from source " + flowLine(m.From)}, lines...)
	case m != nil:
		lines = append([]string{"multicast : " + kindLine(m)}, lines...)
		from = "from peer : multicast " + flowLine(m.From) + ", unicast " + flowLine(u.From)
		trip = fmt.Sprintf("round trip: multicast %d/%d/%s, unicast %d/%d/%s", m.Sent, m.Replies, pct(m.RoundTripLoss), u.Sent, u.Replies, pct(u.RoundTripLoss))
	}
	lines = append(lines, from, trip)
	if p.Interface != "" || p.Discovered {
		l := "via       : " + orDash(p.Interface)
		if p.Discovered {
			l += " (discovered)"
		}
		lines = append(lines, l)
	}
	return lines
}

// statusDetail explains a failing status.
var statusDetail = map[string]string{
	multicast.StatusNotJoined: " (the peer answers unicast but says it did not join the group)",
	multicast.StatusNoMcast:   " (the peer answers unicast, but none of our group probes reached it)",
	multicast.StatusNoAnswer:  " (nothing came back: host down, firewalled or not running the test)",
	multicast.StatusNoUcast:   " (none of the unicast probes between us got through: a firewall, or the peer never proved its address)",
}

// kindLine is a kind's line of the statistics: "xmt/rcv/%loss =
// 30/30/0%, min/avg/max/std-dev = ... ms, ttl=1".
func kindLine(k *multicast.KindReport) string {
	s := fmt.Sprintf("xmt/rcv/%%loss = %d/%d/%s", k.Xmt, k.Rcv, pct(k.Loss))
	if k.First > 1 {
		s += fmt.Sprintf(" from seq %d", k.First)
	}
	if k.Replies > 0 {
		s += fmt.Sprintf(", min/avg/max/std-dev = %s/%s/%s/%s ms", msString(k.RTTMin), msString(k.RTTAvg),
			msString(k.RTTMax), msString(k.RTTStdDev))
	}
	s += ", ttl=" + ttlString(k.TTLSeen)
	if k.Duplicates > 0 {
		s += fmt.Sprintf(", %d dup", k.Duplicates)
	}
	if k.Reordered > 0 {
		s += fmt.Sprintf(", %d reordered", k.Reordered)
	}
	return s
}

// flowLine is what came from the peer: "expected/received/loss ttl=N", or
// "none" when nothing was announced.
func flowLine(f multicast.FlowReport) string {
	if f.Expected == 0 {
		return "none"
	}
	s := fmt.Sprintf("%d/%d/%s ttl=%s", f.Expected, f.Received, pct(f.Loss), ttlString(f.TTL))
	if f.First > 1 {
		s += fmt.Sprintf(" from seq %d", f.First)
	}
	if f.Duplicates > 0 {
		s += fmt.Sprintf(" %d dup", f.Duplicates)
	}
	if f.Reordered > 0 {
		s += fmt.Sprintf(" %d reordered", f.Reordered)
	}
	return s
}

// The JSON lines of "mcast test --json": the command's output format, kept
// here (multicast's report types carry no encoding).

// kindJSON is a kind's statistics in a "peer" line; null for a kind that
// was not tested. Milliseconds, as every --json; mdev as ping's.
func kindJSON(k *multicast.KindReport) any {
	if k == nil {
		return nil
	}
	f := k.From
	return object{"xmt", k.Xmt, "rcv", k.Rcv, "loss_percent", k.Loss, "first_seq", k.First, "sent", k.Sent, "replies", k.Replies,
		"round_trip_loss_percent", k.RoundTripLoss, "duplicates", k.Duplicates, "reordered", k.Reordered,
		"rtt_min_ms", msNumber(k.RTTMin), "rtt_avg_ms", msNumber(k.RTTAvg), "rtt_max_ms", msNumber(k.RTTMax), "rtt_mdev_ms", msNumber(k.RTTStdDev),
		"ttl_sent", k.TTLSent, "ttl_seen", k.TTLSeen,
		"from_peer", object{"first_seq", f.First, "expected", f.Expected, "received", f.Received, "loss_percent", f.Loss,
			"duplicates", f.Duplicates, "reordered", f.Reordered, "ttl", f.TTL},
		"receive_only", omit(k.ReceiveOnly)}
}

// peerJSON is one "peer" line.
func peerJSON(p multicast.PeerReport, maxLoss float64) object {
	return object{"type", "peer", "peer", p.Peer, "listed", p.Listed, "discovered", p.Discovered, "answered", p.Answered,
		"interface", omit(p.Interface), "member", p.Member, "multicast", kindJSON(p.Multicast), "unicast", kindJSON(p.Unicast),
		"status", p.Status(maxLoss)}
}

// summaryJSON is the "summary" line (the peers are on their own lines);
// the session as the text header gives it (wire.SessionString).
func summaryJSON(r *multicast.Report, maxLoss float64) object {
	return object{"type", "summary", "group", r.Group, "source", omit(r.Source), "ttl", r.TTL, "joined", r.Joined,
		"session", wire.SessionString(r.Session), "sent", r.Sent, "interfaces", r.Interfaces, "sends_group", r.SendsGroup,
		"ignored", r.Ignored, "ignored_sources", r.IgnoredSources, "rate_limited", r.RateLimited, "interrupted", r.Interrupted,
		"elapsed_ms", msNumber(r.Duration), "peers", len(r.Peers), "peers_ok", r.PeersOK(maxLoss), "max_loss_percent", maxLoss, "ok", r.OK(maxLoss)}
}
