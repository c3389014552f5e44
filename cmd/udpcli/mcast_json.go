package main

import (
	"net/netip"

	"github.com/udpkit/udpkit/multicast"
	"github.com/udpkit/udpkit/wire"
)

// The JSON lines of "mcast test --json": the command's output format, kept
// here (multicast's report types carry no encoding).

type flowJSON struct {
	First      int     `json:"first_seq"`
	Expected   int     `json:"expected"`
	Received   int     `json:"received"`
	Loss       float64 `json:"loss_percent"`
	Duplicates int     `json:"duplicates"`
	Reordered  int     `json:"reordered"`
	TTL        int     `json:"ttl"`
}

type kindJSON struct {
	Xmt           int      `json:"xmt"`
	Rcv           int      `json:"rcv"`
	Loss          float64  `json:"loss_percent"`
	First         int      `json:"first_seq"`
	Sent          int      `json:"sent"`
	Replies       int      `json:"replies"`
	RoundTripLoss float64  `json:"round_trip_loss_percent"`
	Duplicates    int      `json:"duplicates"`
	Reordered     int      `json:"reordered"`
	RTTMin        float64  `json:"rtt_min_ms"` // milliseconds, as every --json; mdev as ping's
	RTTAvg        float64  `json:"rtt_avg_ms"`
	RTTMax        float64  `json:"rtt_max_ms"`
	RTTStdDev     float64  `json:"rtt_mdev_ms"`
	TTLSent       int      `json:"ttl_sent"`
	TTLSeen       int      `json:"ttl_seen"`
	From          flowJSON `json:"from_peer"`
	ReceiveOnly   bool     `json:"receive_only,omitempty"`
}

func toKindJSON(k *multicast.KindReport) *kindJSON {
	if k == nil {
		return nil
	}
	f := k.From
	return &kindJSON{
		Xmt: k.Xmt, Rcv: k.Rcv, Loss: k.Loss, First: k.First, Sent: k.Sent, Replies: k.Replies,
		RoundTripLoss: k.RoundTripLoss, Duplicates: k.Duplicates, Reordered: k.Reordered,
		RTTMin: msNumber(k.RTTMin), RTTAvg: msNumber(k.RTTAvg), RTTMax: msNumber(k.RTTMax), RTTStdDev: msNumber(k.RTTStdDev),
		TTLSent: k.TTLSent, TTLSeen: k.TTLSeen, ReceiveOnly: k.ReceiveOnly,
		From: flowJSON{First: f.First, Expected: f.Expected, Received: f.Received, Loss: f.Loss,
			Duplicates: f.Duplicates, Reordered: f.Reordered, TTL: f.TTL},
	}
}

// peerJSON is one "peer" line.
type peerJSON struct {
	Type       string         `json:"type"`
	Peer       netip.AddrPort `json:"peer"`
	Listed     bool           `json:"listed"`
	Discovered bool           `json:"discovered"`
	Answered   bool           `json:"answered"`
	Interface  string         `json:"interface,omitempty"`
	Member     string         `json:"member"`
	Multicast  *kindJSON      `json:"multicast"`
	Unicast    *kindJSON      `json:"unicast"`
	Status     string         `json:"status"`
}

func toPeerJSON(p multicast.PeerReport, maxLoss float64) peerJSON {
	return peerJSON{Type: "peer", Peer: p.Peer, Listed: p.Listed, Discovered: p.Discovered, Answered: p.Answered,
		Interface: p.Interface, Member: p.Member, Multicast: toKindJSON(p.Multicast), Unicast: toKindJSON(p.Unicast),
		Status: p.Status(maxLoss)}
}

// summaryJSONT is the "summary" line (the peers are on their own lines).
type summaryJSONT struct {
	Type           string         `json:"type"`
	Group          netip.AddrPort `json:"group"`
	Source         netip.Addr     `json:"source,omitzero"`
	TTL            int            `json:"ttl"`
	Joined         bool           `json:"joined"`
	Session        string         `json:"session"` // wire.SessionString, as the text header
	Sent           int            `json:"sent"`
	Interfaces     []string       `json:"interfaces"`
	SendsGroup     bool           `json:"sends_group"`
	Ignored        int            `json:"ignored"`
	IgnoredSources int            `json:"ignored_sources"`
	RateLimited    int            `json:"rate_limited"`
	Interrupted    bool           `json:"interrupted"`
	Elapsed        float64        `json:"elapsed_ms"`
	Peers          int            `json:"peers"`
	PeersOK        int            `json:"peers_ok"`
	MaxLoss        float64        `json:"max_loss_percent"`
	OK             bool           `json:"ok"`
}

func summaryJSON(r *multicast.Report, maxLoss float64) summaryJSONT {
	return summaryJSONT{Type: "summary", Group: r.Group, Source: r.Source, TTL: r.TTL, Joined: r.Joined,
		Session: wire.SessionString(r.Session), Sent: r.Sent, Interfaces: r.Interfaces, SendsGroup: r.SendsGroup, Ignored: r.Ignored,
		IgnoredSources: r.IgnoredSources, RateLimited: r.RateLimited, Interrupted: r.Interrupted,
		Elapsed: msNumber(r.Duration), Peers: len(r.Peers), PeersOK: r.PeersOK(maxLoss), MaxLoss: maxLoss, OK: r.OK(maxLoss)}
}
