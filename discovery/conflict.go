package discovery

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/udpkit/udpkit/netif"
	"github.com/udpkit/udpkit/wire"
)

// Instance name conflicts (PROTOCOL.md section 6.6). Two servers that
// announce the same service type and instance name are indistinguishable
// to browsers, which report an instance name once. As mDNS does (RFC 6762
// sections 8 and 9), an Announcer looks for its own name in use: the
// queries for every service it sends at start to learn its peers
// (budget.go, without delaying the announcements) are its probes, since a
// server with its name answers them too (the known-answer list never
// names the Announcer's own name), and it listens to every ANNOUNCE on the
// discovery port. An ANSWER to one of its probes, or an ANNOUNCE of its
// service and instance name from another server, is a conflict.
//
// A conflict renames a generated name only while the Announcer is probing
// it: during its start burst, until probeGrace after the last start
// announcement. That is when two servers that start together find each
// other, and when a newcomer hears the holder's answer to its probe. Once
// the burst is over the Announcer holds its name first-come (PROTOCOL.md
// 6.6, 6.7): a later announcement of the name, which anyone can forge from
// any address, is counted and logged, never acted on, so it cannot make
// the server rename and send a new start burst (a reflection: one 53-byte
// datagram in, a burst of announcements and probes to every host out).

const (
	// minRenameInterval is the shortest time between two renames. It is
	// longer than a start burst's probing window, so the new name's burst
	// never renames again: at most one rename per start, whatever a
	// forger sends during the bursts.
	minRenameInterval = 10 * time.Second
	// maxLoggedPeers caps the conflicting peers remembered so that each
	// is logged once.
	maxLoggedPeers = 16
	// probeGrace is how long after its last start announcement (and
	// probe) an Announcer still takes a conflict as a reason to rename: an
	// answer to the last probe comes within a few milliseconds on a LAN.
	probeGrace = 500 * time.Millisecond
)

// startProbing opens the probing window of a start burst that begins at
// now (PROTOCOL.md 6.6).
func (a *Announcer) startProbing(now time.Time) {
	a.probeUntil = now.Add(burstOffsets[len(burstOffsets)-1] + probeGrace)
}

// newID returns a random message ID and remembers it as the Announcer's
// own, so that its messages are recognized when they loop back.
func (a *Announcer) newID() uint64 {
	id := rand.Uint64()
	a.own[a.ownN%len(a.own)] = id
	a.ownN++
	return id
}

// isOwn reports whether id is one of the Announcer's recent message IDs.
func (a *Announcer) isOwn(id uint64) bool {
	return slices.Contains(a.own[:min(a.ownN, len(a.own))], id)
}

// conflict checks whether datagram p (header h, record rec) shows another
// server using the Announcer's instance name, and reacts: a generated name
// is replaced while it is being probed (conflict returns true: the caller
// starts announcing the new name); otherwise, and always for a configured
// name, the name is kept and the conflict counted and logged once per peer.
func (a *Announcer) conflict(p inPacket, h wire.Header, rec wire.Record, now time.Time) bool {
	if a.isOwn(h.ID) && h.Type == wire.TypeAnnounce {
		return false
	}
	switch {
	case h.Type == wire.TypeAnnounce:
	case h.Type == wire.TypeAnswer && a.isOwn(h.ID): // an answer to our probe
	default:
		return false
	}
	l := netif.ByIndex(a.links, p.ifIndex)
	if l == nil {
		return false
	}
	if rec.TTL == 0 || !wire.EqualFold(rec.Service, a.cfg.Service) || !wire.EqualFold(rec.Instance, a.cfg.Instance) {
		return false
	}
	// The same port at one of our addresses is this server (another
	// Announcer for it, or our own message on a second interface of the
	// same link): no conflict.
	if rec.Port == a.cfg.Port && slices.ContainsFunc(rec.Addrs, func(ad netip.Addr) bool {
		return slices.ContainsFunc(a.links, func(k netif.Interface) bool { return k.Has(ad) })
	}) {
		return false
	}
	a.stats.conflicts.Add(1)
	// A peer announces over IPv4 and IPv6 from two source addresses but
	// with one record: its first address names it.
	peer := p.src.Addr().WithZone("")
	if len(rec.Addrs) > 0 {
		peer = rec.Addrs[0]
	}
	probing := now.Before(a.probeUntil)
	if !a.auto || !probing || !a.lastRename.IsZero() && now.Sub(a.lastRename) < minRenameInterval {
		if !slices.Contains(a.logged, peer) {
			if len(a.logged) < maxLoggedPeers {
				a.logged = append(a.logged, peer)
			}
			if a.auto {
				a.log.Warn("discovery: another source announces this instance name, which this server holds: keeping it (the announcement may be forged; browsers may see only one of the two)",
					"instance", a.cfg.Instance, "service", a.cfg.Service, "peer", p.src, "peer_port", rec.Port, "interface", l.Name)
			} else {
				a.log.Error("discovery: another server announces this instance name; keeping it because it was configured, but browsers will see only one of the two: give each server its own name",
					"instance", a.cfg.Instance, "service", a.cfg.Service, "peer", p.src, "peer_port", rec.Port, "interface", l.Name)
			}
		}
		return false
	}
	old := a.cfg.Instance
	name := renameInstance(old)
	a.mu.Lock()
	a.cfg.Instance = name
	a.mu.Unlock()
	a.lastRename = now
	a.stats.renames.Add(1)
	a.log.Warn("discovery: another server announces this generated instance name; announcing a new one",
		"instance", old, "new", name, "service", a.cfg.Service, "peer", p.src, "peer_port", rec.Port, "interface", l.Name)
	return true
}

// renameInstance returns a new generated name for old, a DefaultInstance
// name: the host label with a new random six-hex-digit suffix. Random, not
// "name (2)": two servers renaming at once never pick the same name again.
func renameInstance(old string) string {
	base := old
	if i := strings.LastIndexByte(old, '-'); i >= 0 && len(old)-i == 7 && isHex(old[i+1:]) {
		base = old[:i]
	}
	suffix := fmt.Sprintf("-%06x", rand.Uint32()&0xffffff)
	for {
		n := wire.TruncateUTF8(base, wire.MaxInstanceLen-len(suffix)) + suffix
		if n != old {
			return n
		}
		suffix = fmt.Sprintf("-%06x", rand.Uint32()&0xffffff)
	}
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
