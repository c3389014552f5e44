package udpserver

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

// Authentication (Server.Keys, PROTOCOL.md section 5). With keys, every
// datagram is verified first: tag (one HMAC, no table), then the replay
// window and clock bound of package auth. Only what passes reaches the
// rate limiter and the de-duplication table, both keyed by who sealed it,
// not by the source address, which anyone on the LAN can forge.

// authInfo is the verified identity of the datagram a worker handles.
type authInfo struct {
	ok     bool
	key    uint16
	sender uint64
}

// initAuth sets up the receiver and the signer of replies; it runs once,
// in init. Datagrams stamped before the server's start are refused, so
// that ones captured before a restart cannot be replayed to the new
// process (its replay table is empty).
func (s *Server) initAuth() error {
	now := s.wall
	if now == nil {
		now = time.Now
	}
	s.recv = auth.NewReceiver(s.Keys, auth.ReplayConfig{NotBefore: now(), Now: now})
	signer, err := auth.NewSender(s.Keys, auth.SenderConfig{Now: now})
	if err != nil {
		s.recv = nil
		return err
	}
	s.signer = signer
	return nil
}

// identity returns the 16 bytes that stand for an authenticated sender in
// the de-duplication and rate-limit tables: ff75:KKKK:0000:0000 followed by
// the sender ID, an IPv6 multicast address, which is never the source of a
// datagram, so it cannot collide with an address. Its /64 is the key ID:
// DedupPerHost bounds what all holders of one key hold together (a key
// authenticates a group, whose members cannot be told apart).
func identity(keyID uint16, sender uint64) [16]byte {
	var a [16]byte
	a[0], a[1] = 0xff, 0x75
	binary.BigEndian.PutUint16(a[2:4], keyID)
	binary.BigEndian.PutUint64(a[8:16], sender)
	return a
}

// processAuth is process for a server with keys.
func (s *worker) processAuth(ctx context.Context, p *packet, reply []byte) []byte {
	n := min(p.n, len(p.buf))
	b := p.buf[:n]
	if p.n > s.cfg.maxDatagram {
		// Cut off by the buffer: its tag cannot be checked, so it is not
		// answered (an unauthenticated NACK would be ignored anyway).
		s.stats.oversized.Add(1)
		return s.drop(&s.stats.oversizedDropped, p, "oversized")
	}
	m, err := s.recv.Verify(b)
	if err != nil {
		return s.unverified(p, b, err)
	}
	h := m.Header
	id := identity(h.KeyID, m.Freshness.Sender)
	now := s.now()
	if s.rates != nil {
		if ok, nack := s.rates.allow(netip.AddrFrom16(id), now); !ok {
			s.stats.rateLimited.Add(1)
			if nack && h.Type == wire.TypeData {
				s.stats.nack(wire.CodeRateLimited)
				return s.seal(wire.AppendNack(reply[:0], h.ID, wire.CodeRateLimited, "", wire.HeaderLen), h.KeyID)
			}
			return s.drop(&s.stats.rateLimitedDropped, p, "rate limited")
		}
	}
	switch h.Type {
	case wire.TypePing:
		s.stats.pings.Add(1)
		return s.seal(wire.Append(reply[:0], wire.Header{Type: wire.TypePong, ID: h.ID}, m.Body), h.KeyID)
	case wire.TypeData:
		p.auth = authInfo{ok: true, key: h.KeyID, sender: m.Freshness.Sender}
		// The NACK's text is cut so that the sealed NACK is no longer
		// than the request.
		out := s.runExchange(ctx, p, dedupKey{addr: id, id: h.ID}, h.ID, m.Body, n-wire.AuthTrailerLen, now, false, reply)
		p.auth = authInfo{}
		if out == nil {
			return nil
		}
		return s.seal(out, h.KeyID)
	}
	// Authenticated, but a type a server never takes (a reply, discovery).
	return s.malformed(&s.stats.unexpected, p, "unexpected type")
}

// seal signs a reply with the key of its request.
func (s *worker) seal(out []byte, keyID uint16) []byte {
	out, err := s.signer.SignWith(out, keyID)
	if err != nil { // cannot happen: the key verified the request
		s.stats.writeErrors.Add(1)
		s.logLimited(&s.logWrite, slog.LevelError, "udpserver: cannot seal a reply", "err", err)
		return nil
	}
	return out
}

// unverified counts and drops a datagram that failed verification.
func (s *worker) unverified(p *packet, b []byte, err error) []byte {
	var c *count
	why := ""
	switch err {
	case wire.ErrNotAuth:
		c, why = &s.stats.unauthenticated, "not authenticated"
	case auth.ErrBadTag:
		c, why = &s.stats.badTag, "bad tag"
	case auth.ErrUnknownKey:
		c, why = &s.stats.badTag, "unknown key ID"
	case auth.ErrReplay, auth.ErrTooOld:
		c, why = &s.stats.replayed, "replayed"
	case auth.ErrClock:
		c, why = &s.stats.stale, "stale or future time"
	case auth.ErrTooManySenders:
		c, why = &s.stats.authSendersFull, "too many senders"
	default: // a wire error
		switch {
		case len(b) == 0:
			return s.drop(&s.stats.empty, p, "empty")
		case !wire.IsMessage(b) && !(len(b) == 1 && b[0] == wire.Magic0):
			c, why = &s.stats.unauthenticated, "raw text"
		default:
			h, _, perr := wire.Parse(b)
			if perr == nil {
				perr = err // well formed but for the trailer's length
			}
			return s.rejected(p, h, perr, len(b))
		}
	}
	return s.drop(c, p, why)
}
