package multicast

// The text forms of a test's events and report, in omping's shape: what
// "udpcli mcast test" prints, and what a program running a test logs. The
// report types carry no encoding; a tool that wants JSON builds its own.

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// String is the event as omping's verbose line: "PEER : multicast, reply
// seq=3, size=40 bytes, ttl=1, time=0.120 ms", with (DUP!) or
// (reordered) after it.
func (e Event) String() string {
	var sb strings.Builder
	if e.Reply {
		fmt.Fprintf(&sb, "%v : %-9s reply seq=%d, size=%d bytes, ttl=%s, time=%s ms", e.Peer, e.Kind.String()+",",
			e.Seq, e.Size, ttlString(e.TTL), msString(e.RTT))
	} else {
		fmt.Fprintf(&sb, "%v : %-9s probe seq=%d, size=%d bytes, ttl=%s, on %s", e.Peer, e.Kind.String()+",",
			e.Seq, e.Size, ttlString(e.TTL), orDash(e.Interface))
	}
	if e.Duplicate {
		sb.WriteString(" (DUP!)")
	} else if e.Reordered {
		sb.WriteString(" (reordered)")
	}
	return sb.String()
}

// PeersOK counts the peers whose Status is StatusOK.
func (r *Report) PeersOK(maxLoss float64) int {
	n := 0
	for _, p := range r.Peers {
		if p.Status(maxLoss) == StatusOK {
			n++
		}
	}
	return n
}

// WriteText writes the report as omping's statistics: a block per peer
// (the loss, RTT and TTL of each kind, what came from the peer, the round
// trip, the interface and the status judged against maxLoss percent), then
// a line saying how many peers passed.
func (r *Report) WriteText(w io.Writer, maxLoss float64) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- %v mcast test statistics ---\n", r.Group)
	width := 0
	for _, p := range r.Peers {
		width = max(width, len(p.Peer.String()))
	}
	for _, p := range r.Peers {
		pad := strings.Repeat(" ", width)
		st := p.Status(maxLoss)
		for k, l := range p.lines() {
			if k == 0 {
				fmt.Fprintf(&b, "%-*s  %s\n", width, p.Peer.String(), l)
			} else {
				fmt.Fprintf(&b, "%s  %s\n", pad, l)
			}
		}
		fmt.Fprintf(&b, "%s  status    : %s%s\n", pad, st, statusDetail(st))
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
	_, err := io.WriteString(w, b.String())
	return err
}

// lines are p's block of the statistics, before its status line.
func (p PeerReport) lines() []string {
	var lines []string
	u := p.Unicast
	switch m := p.Multicast; {
	case m != nil && m.ReceiveOnly:
		lines = append(lines,
			"multicast : receiver only (source-specific); from source "+m.From.String(),
			"unicast   : "+u.String(),
			"from peer : unicast "+u.From.String(),
			fmt.Sprintf("round trip: unicast %d/%d/%s", u.Sent, u.Replies, pct(u.RoundTripLoss)))
	case m != nil:
		lines = append(lines,
			"multicast : "+m.String(),
			"unicast   : "+u.String(),
			"from peer : multicast "+m.From.String()+", unicast "+u.From.String(),
			fmt.Sprintf("round trip: multicast %d/%d/%s, unicast %d/%d/%s",
				m.Sent, m.Replies, pct(m.RoundTripLoss), u.Sent, u.Replies, pct(u.RoundTripLoss)))
	default:
		lines = append(lines,
			"unicast   : "+u.String(),
			"from peer : unicast "+u.From.String(),
			fmt.Sprintf("round trip: unicast %d/%d/%s", u.Sent, u.Replies, pct(u.RoundTripLoss)))
	}
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
func statusDetail(st string) string {
	switch st {
	case StatusNotJoined:
		return " (the peer answers unicast but says it did not join the group)"
	case StatusNoMcast:
		return " (the peer answers unicast, but none of our group probes reached it)"
	case StatusNoAnswer:
		return " (nothing came back: host down, firewalled or not running the test)"
	}
	return ""
}

// String is the kind's line of the statistics: "xmt/rcv/%loss = 30/30/0%,
// min/avg/max/std-dev = ... ms, ttl=1".
func (k *KindReport) String() string {
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

// String is what came from the peer: "expected/received/loss ttl=N", or
// "none" when nothing was announced.
func (f FlowReport) String() string {
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

// String is the datagram as "udpcli mcast listen" prints it: "SRC > DST
// on IFACE ttl=N SIZE bytes", with "?" and "-" for what is unknown.
func (p Packet) String() string {
	dst := "?"
	if p.Dst.IsValid() {
		dst = p.Dst.String()
	}
	return fmt.Sprintf("%v > %s on %s ttl=%s %d bytes", p.Src, dst, orDash(p.Interface), ttlString(p.TTL), p.N)
}

func ttlString(ttl int) string {
	if ttl < 0 {
		return "?"
	}
	return strconv.Itoa(ttl)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// pct formats a percentage with at most one decimal: "0%", "19.5%".
func pct(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + "%"
}

// msString formats a duration in milliseconds with 3 decimals, as omping.
func msString(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64)
}

// plural returns "1 peer" or "n peers".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
