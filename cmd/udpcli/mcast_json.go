package main

import (
	"github.com/udpkit/udpkit/multicast"
	"github.com/udpkit/udpkit/wire"
)

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
