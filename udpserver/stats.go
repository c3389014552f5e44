package udpserver

import "sync/atomic"

// Stats is a snapshot of a Server's counters since it started. Every
// datagram read is counted in Received and then in exactly one of the
// outcome counters: Handled (DATA and raw messages whose handler ran),
// Duplicates, InProgress, Busy, DedupCookies, Pings, RateLimited,
// Oversized, Empty, RawDropped, Malformed, or (with Keys) Unauthenticated,
// BadTag, Replayed, Stale or AuthSendersFull.
type Stats struct {
	Received uint64 // datagrams read from the sockets

	Handled    uint64 // handler runs: new DATA messages and raw datagrams
	Rejected   uint64 // handler runs that returned an error (NACK; silence for raw)
	Panics     uint64 // handler runs that panicked (counted in Rejected too)
	Raw        uint64 // raw datagrams handed to the handler (counted in Handled too)
	Duplicates uint64 // retransmissions answered from the de-dup table without running the handler
	InProgress uint64 // retransmissions dropped because their handler was still running
	Pings      uint64 // PINGs answered with a PONG

	// Busy counts new DATA messages refused with NACK busy because the
	// de-duplication table had no room for them (counted in Nacked too);
	// the handler did not run, and the client may send them again. The
	// Dedup fields below split it by cause.
	Busy uint64

	Acked  uint64 // ACKs and raw "ack\n" replies sent, repeats for duplicates included
	Nacked uint64 // NACKs sent, repeats for duplicates and "too large" included

	// NackedByCode splits Nacked by reason code: NackedByCode[c] counts
	// the NACKs sent with wire.Code(c).
	NackedByCode [256]uint64

	// RateLimited counts datagrams over their source's rate limit: at
	// most one NACK "rate limited" per source and second (counted in
	// Nacked), the rest dropped (counted in Dropped).
	RateLimited        uint64
	RateLimitedDropped uint64 // the part of RateLimited dropped without a NACK (counted in Dropped)
	RateSources        int    // sources in the rate-limit table now
	RateEvicted        uint64 // sources forgotten because the table was full

	// Cookies (cookie.go, PROTOCOL.md section 3.1), without Keys.
	Cookies       uint64 // NACKs "rate limited" that carried a cookie (counted in Nacked, and in RateLimited or DedupCookies)
	CookieValid   uint64 // DATA that echoed a valid cookie: counted in the bucket of its proved host
	CookieInvalid uint64 // DATA that echoed a stale or forged cookie: counted as the host it claims

	Oversized        uint64 // datagrams larger than MaxDatagram (a DATA among them got NACK "too large")
	OversizedDropped uint64 // the part of Oversized that was not a DATA, dropped (counted in Dropped)
	Empty            uint64 // empty datagrams (never answered)
	RawDropped       uint64 // raw datagrams dropped because DisableRaw is set

	// Malformed counts datagrams with the udpkit magic that were dropped
	// unanswered; the fields after it split it by reason.
	Malformed        uint64
	MalformedShort   uint64 // shorter than the header (or the auth tag is missing)
	MalformedVersion uint64 // protocol version other than 1
	MalformedType    uint64 // unknown message type
	MalformedFlags   uint64 // flags against the rules: an unknown bit, or COOKIE misplaced or its cookie cut
	MalformedField   uint64 // reserved field, reason code or body breaks a rule of PROTOCOL.md
	Unexpected       uint64 // a known type a server never takes: ACK, NACK, PONG, discovery, multicast tests
	AuthUnsupported  uint64 // AUTH flag set on a server without Keys: it cannot check them, so it drops them

	// With Keys, datagrams dropped unanswered by authentication (PROTOCOL.md
	// section 5), before any table: each is an outcome of its own.
	Unauthenticated uint64 // no AUTH flag: unauthenticated messages and raw text
	BadTag          uint64 // the tag does not match, or the key ID is not one of the server's
	Replayed        uint64 // a counter already accepted from its sender, or behind the replay window
	Stale           uint64 // a time further than the skew bound (30 s) from the server's clock, or before its start
	AuthSendersFull uint64 // a new sender while the replay table was full of live senders
	AuthSenders     int    // senders whose replay windows the server keeps now

	DedupEntries   int    // exchanges remembered now
	DedupBytes     int    // memory the de-duplication table holds now, in bytes
	DedupExpired   uint64 // exchanges forgotten after their whole window (the only way out)
	DedupFull      uint64 // NACK busy: the table held DedupEntries exchanges, or (unproved) its claimed part was full
	DedupOverShare uint64 // NACK busy: the sender held DedupPerSource exchanges
	DedupOverHost  uint64 // NACK busy: the sender's host held DedupPerHost exchanges

	// DedupCookies counts new DATA of senders that had not proved their
	// address, refused because the share they claim (sender or host) or
	// the table's claimed part (3/4 of DedupEntries) was full, and answered with a cookie NACK instead of NACK busy (counted
	// in Cookies and Nacked, not in Busy; the handler did not run). Once
	// they echo the cookie they are counted in shares that forgeries of
	// their address cannot fill (PROTOCOL.md section 3.1).
	DedupCookies uint64

	// The quarantine socket (Server.DisableQuarantine).
	Jailed      int    // sources served on a quarantine socket now
	JailedTotal uint64 // sources jailed since the start (a source jailed twice counts twice)

	Dropped uint64 // datagrams dropped unanswered on purpose: InProgress, Empty, RawDropped, Malformed, the authentication failures, oversized non-DATA (any oversized datagram with Keys) and RateLimited without a NACK

	ReadErrors  uint64 // socket read errors other than closing
	WriteErrors uint64 // replies the socket refused

	// HandlerTime is the distribution of handler run times; it stays
	// empty unless Server.MeasureHandlers is set.
	HandlerTime Histogram
}

// counters are the live, atomic counterparts of Stats.
type counters struct {
	received, handled, rejected, panics, raw, duplicates, inProgress, pings, busy atomic.Uint64
	acked, nacked                                                                 atomic.Uint64
	oversized, empty, rawDropped                                                  atomic.Uint64
	malformed, short, version, badType, flags, field, unexpected, auth            atomic.Uint64
	dropped, readErrors, writeErrors, rateLimited                                 atomic.Uint64
	unauthenticated, badTag, replayed, stale, authSendersFull                     atomic.Uint64
	oversizedDropped, rateLimitedDropped                                          atomic.Uint64
	cookies, cookieValid, cookieInvalid                                           atomic.Uint64
	nacks                                                                         [256]atomic.Uint64
	handlerTime                                                                   histogram
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	s.init()
	c := &s.stats
	st := Stats{
		Received:         c.received.Load(),
		Handled:          c.handled.Load(),
		Rejected:         c.rejected.Load(),
		Panics:           c.panics.Load(),
		Raw:              c.raw.Load(),
		Duplicates:       c.duplicates.Load(),
		InProgress:       c.inProgress.Load(),
		Busy:             c.busy.Load(),
		Pings:            c.pings.Load(),
		Acked:            c.acked.Load(),
		Nacked:           c.nacked.Load(),
		RateLimited:      c.rateLimited.Load(),
		Oversized:        c.oversized.Load(),
		Empty:            c.empty.Load(),
		RawDropped:       c.rawDropped.Load(),
		Malformed:        c.malformed.Load(),
		MalformedShort:   c.short.Load(),
		MalformedVersion: c.version.Load(),
		MalformedType:    c.badType.Load(),
		MalformedFlags:   c.flags.Load(),
		MalformedField:   c.field.Load(),
		Unexpected:       c.unexpected.Load(),
		AuthUnsupported:  c.auth.Load(),
		Unauthenticated:  c.unauthenticated.Load(),
		BadTag:           c.badTag.Load(),
		Replayed:         c.replayed.Load(),
		Stale:            c.stale.Load(),
		AuthSendersFull:  c.authSendersFull.Load(),
		Dropped:          c.dropped.Load(),
		ReadErrors:       c.readErrors.Load(),
		WriteErrors:      c.writeErrors.Load(),
	}
	st.RateLimitedDropped = c.rateLimitedDropped.Load()
	st.Cookies, st.CookieValid, st.CookieInvalid = c.cookies.Load(), c.cookieValid.Load(), c.cookieInvalid.Load()
	st.OversizedDropped = c.oversizedDropped.Load()
	for i := range c.nacks {
		st.NackedByCode[i] = c.nacks[i].Load()
	}
	st.HandlerTime = c.handlerTime.snapshot()
	st.RateSources, st.RateEvicted = s.rates.counts()
	if s.recv != nil {
		st.AuthSenders = s.recv.Senders()
	}
	s.mu.Lock()
	for _, g := range s.jails {
		n, total := g.counts()
		st.Jailed += n
		st.JailedTotal += total
	}
	s.mu.Unlock()
	d := s.dedup.counts()
	st.DedupEntries, st.DedupBytes, st.DedupExpired = d.entries, d.bytes, d.expired
	st.DedupFull, st.DedupOverShare, st.DedupOverHost = d.full, d.overPort, d.overHost
	st.DedupCookies = d.cookies
	return st
}
