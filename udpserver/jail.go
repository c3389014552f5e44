package udpserver

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/udpkit/udpkit/internal/readloop"
	"github.com/udpkit/udpkit/internal/sockopt"
)

// The quarantine socket (Server.DisableQuarantine, SECURITY.md "Floods").
//
// The source-spreading program (sockets.go) puts each host on one of the
// Sockets sockets by a hash of its address, so a flooding host fills only
// its own socket's queue: but it shares that queue with one host in
// Sockets. So the group has one more socket, the quarantine socket, and
// every worker watches the sources it reads: when sources hold more than
// their share of a socket's datagrams while that socket cannot keep up,
// they are jailed: the group's program is replaced by one that sends
// them (by the same key the program hashes: IPv4 address, IPv6 /64) to
// the quarantine socket and hashes everyone else as before. A jailed
// source is still served, by the quarantine socket's workers; it only no
// longer shares a queue with anyone but other jailed sources. It is
// released after jailHold without being heavy (on the quarantine socket:
// over a sixteenth of a window and faster than jailMinRate, backlogged
// or not).
//
// Detection costs a few integer operations per datagram and nothing else:
// Misra–Gries heavy hitters with jailCounters counters over each window
// of jailWindow datagrams pick the candidates (every source with more
// than 1/(k+1) of the window among them), the next window counts the
// candidates' datagrams exactly, and only then, once per window, does the
// worker ask the kernel whether its socket is backlogged (SO_MEMINFO:
// receive drops rose, or the queue holds more than 3/4 of its buffer);
// each source with more than jailNeed (1/16) of a window during which
// the socket stayed backlogged, and read faster than jailMinRate, is
// jailed (the candidates' exact counts, or a Misra–Gries lower bound for a source
// that was not a candidate), all of one window's at once; a window during
// which the jail changed is judged with twice the floor
// (jailChangedFloor), so a victim left alone on its socket, while the
// jailed flood's backlog drains, is not mistaken for a flooder, unless
// the window is a surge (jailSurge: the kernel dropped half as many
// datagrams as the worker read), which is judged whether or not the
// socket was backlogged when it began or the jail changed; a window that
// began backlogged is also judged every jailPart datagrams, and ends
// early when a source already floods it. A flood spread over up to 15 sources on one socket is
// caught, not only a majority; a flood spread over many (spoofed)
// sources, each under a sixteenth, is not: no per-source jail can catch
// it (SECURITY.md "Floods"). The watch runs before the protocol, so
// garbage, bad tags and forged datagrams count as much as valid DATA over
// its rate limit. The quarantine socket's workers read at most
// jailQuarantineRate datagrams a second while a hashed socket is pressed,
// so that the jailed floods leave the CPU to everyone else.

// jailWindow is how many datagrams a worker reads between two
// evaluations: a flood is jailed after two windows (a few ms), and
// an evaluation costs one getsockopt (about 1 µs: 4 ns a datagram).
const jailWindow = 256

// jailPart is how often, in datagrams, a hashed socket's worker looks at
// a window that began backlogged before its end (jailWatch.evaluate): if
// the socket is still backlogged and a source already holds more than
// jailNeed of the window, faster than the floor, the window ends there
// and the source is jailed. 10 flood processes on 2 loaded CPUs were
// jailed one or two a window as the scheduler ran them, 7–10 windows of
// 20–40 ms each, while the victim's socket dropped most of what it
// received; most of a window's datagrams were the one or two that ran,
// and 64 of them say as much as 256. A getsockopt every 64 datagrams
// while backlogged (about 15 ns a datagram). Only a window that began
// backlogged: one that began in a client's quiet spell holds its
// datagrams before the flood's.
const jailPart = jailWindow / 4

// defaultJailHold is how long a jailed source stays jailed after it was
// last seen heavy.
const defaultJailHold = 15 * time.Second

// maxJailed bounds the jail: past it, the source heavy least recently is
// released to make room.
const maxJailed = sockopt.MaxJailed

// jailKey is a source as the program keys it, in two words: an IPv4
// address (plain or IPv4-mapped) is {0, 0xffff<<32 | address}, an IPv6
// address's /64 is {prefix, 0}. Comparable and computed without
// allocating, for the per-datagram path.
type jailKey struct{ hi, lo uint64 }

func jailKeyOf(a netip.Addr) jailKey {
	b := a.As16() // IPv4 as IPv4-mapped
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	if hi == 0 && lo>>32 == 0xffff {
		return jailKey{0, lo}
	}
	return jailKey{hi, 0}
}

// addr is the key as an address: the IPv4 address or the /64's first one.
func (k jailKey) addr() netip.Addr {
	if k.hi == 0 && k.lo>>32 == 0xffff {
		return netip.AddrFrom4([4]byte{byte(k.lo >> 24), byte(k.lo >> 16), byte(k.lo >> 8), byte(k.lo)})
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.hi)
	return netip.AddrFrom16(b)
}

// String names the source in logs: an IPv4 address or an IPv6 /64.
func (k jailKey) String() string {
	a := k.addr()
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).String()
}

// jailGroup is the jail of one SO_REUSEPORT group: its program's hash
// (Sockets sockets, multiplier) and the jailed sources.
type jailGroup struct {
	s       *Server
	rc      syscall.RawConn // a socket of the group, to attach programs through
	sockets int             // hashed sockets; the quarantine socket is index sockets
	mul     uint32
	hold    int64 // ns

	// gen counts the jail's changes (a source jailed or released): a
	// worker does not judge a window during which it changed, since
	// that window's backlog may be the jailed sources' (jailWatch).
	gen atomic.Uint64

	mu     sync.Mutex
	cells  []jailCell
	total  uint64 // sources jailed since the start
	timer  *time.Timer
	epoch  *time.Timer // re-attaches the program with the new epoch's tags
	closed bool

	// unlogged are sources jailed but not logged yet (the log budget was
	// spent: logJailed), logTimer logs them later.
	unlogged   []jailKey
	logTimer   *time.Timer
	logPending bool // logTimer is set to fire

	// hashed are the hashed sockets' queues, read by the quarantine
	// workers to decide whether to pace themselves (pressed); its own
	// lock, since a worker asks while others jail.
	hashedMu sync.Mutex
	hashed   []hashedQueue
}

// hashedQueue is a hashed socket's queue as a quarantine worker sees it
// (its own memInfo: a worker's is not shared).
type hashedQueue struct {
	mem   *memInfo
	drops uint32 // at the last look
}

// jailCell is one jailed source.
type jailCell struct {
	key   jailKey
	since int64 // jailed at, server clock
	heavy int64 // last seen heavy, server clock
	// strict: seen heavy on a hashed socket jailProvedGrace after its
	// jail, where only its datagrams that echo its cookie arrive: it
	// floods while proving its address, so it is jailed without tags.
	strict bool
}

// jailProvedGrace is how long after its jail a source seen heavy on a
// hashed socket is taken for the queue's backlog from before the jail
// (a receive buffer drains in a few ms) rather than for datagrams that
// came through its host tag.
const jailProvedGrace = time.Second

func newJailGroup(s *Server, rc syscall.RawConn, sockets int, mul uint32) *jailGroup {
	hold := s.jailHold
	if hold == 0 {
		hold = defaultJailHold
	}
	return &jailGroup{s: s, rc: rc, sockets: sockets, mul: mul, hold: int64(hold)}
}

// spread is the group's program description with the jail as it is now:
// with cookies, a jailed source's datagrams that echo its host tag of
// this epoch or the last skip the quarantine socket (cookie.go), unless
// it is strict. Called with mu held.
func (g *jailGroup) spread() sockopt.Spread {
	sp := sockopt.Spread{Sockets: g.sockets, Mul: g.mul}
	now := g.s.now()
	for _, c := range g.cells {
		sp.Jailed = append(sp.Jailed, c.key.addr())
		if g.s.cookies != nil && !c.strict {
			sp.Tags = append(sp.Tags, g.s.cookies.hostTags(c.key.addr(), now))
		} else {
			sp.Tags = append(sp.Tags, [2]uint32{})
		}
	}
	return sp
}

// tick re-attaches the program at each epoch change while sources are
// jailed, so that the kernel accepts the new epoch's host tags.
func (g *jailGroup) tick() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || len(g.cells) == 0 {
		g.epoch = nil
		return
	}
	if err := g.attach(); err != nil {
		g.s.logLimited(&g.s.logJail, slog.LevelWarn, "udpserver: cannot renew the jailed sources' host tags", "err", err)
	}
	g.epoch.Reset(g.untilEpoch())
}

// untilEpoch is the time to the next epoch of cookies, and a little more
// (a timer that fired early would renew this epoch's tags).
func (g *jailGroup) untilEpoch() time.Duration {
	e := int64(cookieEpoch)
	return time.Duration(e-g.s.now()%e) + 10*time.Millisecond
}

// attach replaces the group's program with one for the jail as it is now.
// Called with mu held.
func (g *jailGroup) attach() error {
	prog, err := g.spread().Program()
	if err != nil {
		return err
	}
	return sockopt.AttachReusePortCBPF(g.rc, prog)
}

// heavy is a worker's verdict: each of ks held more than its share of
// a backlogged socket's datagrams (quarantine: of the quarantine
// socket's). A jailed k is kept jailed; another is jailed, unless it was
// read on the quarantine socket (a datagram queued there before its
// release). One program is attached for all of ks.
func (g *jailGroup) heavy(ks []jailKey, quarantine bool) {
	now := g.s.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	wasEmpty := len(g.cells) == 0
	added := 0
	var strict []jailKey // made strict now
next:
	for _, k := range ks {
		for i := range g.cells {
			if c := &g.cells[i]; c.key == k {
				c.heavy = now
				if !quarantine && !c.strict && g.s.cookies != nil && now-c.since > int64(jailProvedGrace) {
					c.strict = true
					strict = append(strict, k)
				}
				continue next
			}
		}
		if quarantine {
			continue
		}
		if len(g.cells) == maxJailed {
			old := -1
			for i, c := range g.cells {
				if c.heavy < now && (old < 0 || c.heavy < g.cells[old].heavy) {
					old = i
				}
			}
			if old < 0 { // every jailed source is heavy now: keep them
				continue
			}
			g.release(old, now, "jail full")
		}
		g.cells = append(g.cells, jailCell{key: k, since: now, heavy: now})
		added++
	}
	if added == 0 && len(strict) == 0 {
		return
	}
	if err := g.attach(); err != nil {
		for _, c := range g.cells[len(g.cells)-added:] {
			g.s.logLimited(&g.s.logJail, slog.LevelWarn, "udpserver: cannot jail a flooding source", "source", c.key.String(), "err", err)
		}
		g.cells = g.cells[:len(g.cells)-added]
		for i := range g.cells {
			if slices.Contains(strict, g.cells[i].key) {
				g.cells[i].strict = false
			}
		}
		return
	}
	for _, k := range strict {
		g.s.logLimited(&g.s.logJail, slog.LevelInfo, "udpserver: jailed source floods with its own cookie: its host tag no longer skips the quarantine socket",
			"source", k.String())
	}
	if g.s.cookies != nil && g.epoch == nil && len(g.cells) > 0 {
		g.epoch = time.AfterFunc(g.untilEpoch(), g.tick)
	}
	g.gen.Add(1) // the jail changed: sources jailed, or tags taken
	if added == 0 {
		return
	}
	g.total += uint64(added)
	for _, c := range g.cells[len(g.cells)-added:] {
		if len(g.unlogged) < maxJailed {
			g.unlogged = append(g.unlogged, c.key)
		}
	}
	g.logJailed()
	if g.timer == nil {
		g.timer = time.AfterFunc(time.Duration(g.hold), g.sweep)
	} else if wasEmpty {
		g.timer.Reset(time.Duration(g.hold))
	}
}

// logJailed logs the sources jailed and not logged yet, on one line
// (comma separated: a line each ran into the log limiter's budget when 10
// were jailed at once). When the budget is spent, they wait for the next
// line that passes, or for a timer: 10 flood processes were jailed in 7
// steps, and the 6th and 7th never reached the log. Called with mu held.
func (g *jailGroup) logJailed() {
	if len(g.unlogged) == 0 {
		return
	}
	ok, suppressed := g.s.logJail.Allow(g.s.now())
	if !ok {
		if g.logTimer == nil {
			g.logTimer = time.AfterFunc(readloop.LogInterval, g.flushLog)
		} else if !g.logPending {
			g.logTimer.Reset(readloop.LogInterval)
		}
		g.logPending = true
		return
	}
	var names strings.Builder
	for i, k := range g.unlogged {
		if i > 0 {
			names.WriteByte(',')
		}
		names.WriteString(k.String())
	}
	args := []any{"source", names.String(), "jailed", len(g.cells)}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	g.s.log.Info("udpserver: source jailed: it floods its socket; it is served on the quarantine socket now", args...)
	g.unlogged = g.unlogged[:0]
}

// flushLog is the log timer's: it logs the jailed sources still waiting.
func (g *jailGroup) flushLog() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.logPending = false
	if !g.closed {
		g.logJailed()
	}
}

// release removes cell i (the caller attaches the new program).
func (g *jailGroup) release(i int, now int64, why string) {
	c := g.cells[i]
	g.cells = append(g.cells[:i], g.cells[i+1:]...)
	g.s.logLimited(&g.s.logJail, slog.LevelInfo, "udpserver: source released from the quarantine socket",
		"source", c.key.String(), "why", why, "jailed_for", time.Duration(now-c.since).Round(time.Millisecond))
}

// sweep releases the sources not heavy for hold and sets the timer for
// the next one due.
func (g *jailGroup) sweep() {
	now := g.s.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	released := false
	next := int64(-1)
	for i := 0; i < len(g.cells); {
		due := g.cells[i].heavy + g.hold
		if due <= now {
			g.release(i, now, "no longer heavy")
			released = true
			continue
		}
		if next < 0 || due < next {
			next = due
		}
		i++
	}
	if released {
		g.gen.Add(1)
		if err := g.attach(); err != nil {
			g.s.logLimited(&g.s.logJail, slog.LevelWarn, "udpserver: cannot release jailed sources", "err", err)
		}
	}
	if next >= 0 {
		g.timer.Reset(time.Duration(next - now))
	}
}

// counts returns the sources jailed now and since the start.
func (g *jailGroup) counts() (now int, total uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.cells), g.total
}

// close stops the release timer; the group's sockets are closing.
func (g *jailGroup) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	g.cells = nil
	if g.epoch != nil {
		g.epoch.Stop()
	}
	if g.timer != nil {
		g.timer.Stop()
	}
	if g.logTimer != nil {
		g.logTimer.Stop()
	}
}

// jailCounters is the detector's k: Misra–Gries counters per window.
// Every source with more than 1/(k+1) of a window keeps a counter to the
// window's end, so every source over jailNeed is a candidate.
const jailCounters = 16

// jailNeed is the share of a backlogged socket's window (datagrams read)
// above which a candidate is heavy: 1/16, so up to 15 sources flooding one
// socket at equal rates are each heavy (with a victim's few datagrams;
// with 1/8, 10 flooders each held 1/10 and none was jailed), and a client
// is heavy only if it sends a sixteenth of what a socket that cannot keep
// up reads (and faster than jailMinRate). The quarantine socket, which all
// jailed floods share, refreshes a jailed source at half that share.
const (
	jailNeed           = jailWindow / 16
	jailNeedQuarantine = jailWindow / 32
)

// jailSurge is how many receive drops in one window make it a surge: the
// kernel dropped half as many datagrams as the worker read, so the socket
// receives at least 1.5 times what it drains. A surge is judged although
// the window began before the socket was backlogged (a flood's first
// window), and although the jail changed during it (sources not jailed yet
// still overflow the queue): on a loaded machine a flooded socket's queue
// drains whenever the flooders are descheduled, the "backlogged at both
// ends" pair then came only every few windows, and 5 flooders were jailed
// 50 ms and 1200 drops after they began instead of 6 ms (bench/floodbench.sh
// FLOODERS=5, BENCHMARKS.md "Floods").
const jailSurge = jailWindow / 2

// jailMinRate is the read rate (datagrams a second over the window)
// under which a source is never heavy, whatever its share: a paced client
// (1000/s) that is alone on its socket once its flooder is jailed holds
// the whole of the slow windows that follow, and a socket may still look
// backlogged then (the flood's queued datagrams, a stalled worker). With
// a RateLimit under 4×jailMinRate the floor is a quarter of it. A flood
// is read at the socket's drain rate (30–80k/s here): 10 flooders on one
// socket are each read at about the floor when the machine is loaded (one
// of 10 was missed at 2460/s before jailQuarantineRate left the victim's
// socket more CPU), 15 only when the socket is read at 40k/s or more.
//
// The floor judges the read rate, not an estimate of what a source sends:
// scaled by the window's drops ((read+dropped)/read, at most 2×, since a
// full queue drops every source's datagrams alike), it caught flooders
// read at 1.3–2.4k/s by a starved worker, but it jailed the victim in 2 of
// 8 runs of 10 flood processes started together (0 of 24 started one after
// another): retransmitting,
// it was read at 1943/s (24 of 128 datagrams in a surge window), and
// jailed with the floods it shared the quarantine with 60 % of its
// messages retransmitted (branch flood8, BENCHMARKS.md "Floods").
const jailMinRate = 2500

// jailChangedFloor multiplies the floor in a window during which the jail
// changed and that is not a surge: the window that drains a jailed flood's
// backlog is made of it and of its victim's datagrams at their own pace,
// and ends with drops the flood caused before its jail took effect, so it
// says little about who floods now; but a source read faster than twice
// the floor in it floods now. Not judging such windows at all left the
// sources of a flood spread over several processes, jailed one burst
// after another, unjudged in every other window (sources read at
// 11–28k/s went by; 10 processes took 220 ms to jail).
const jailChangedFloor = 2

// jailCounter is a Misra–Gries counter: a source and its count.
type jailCounter struct {
	key jailKey
	n   int32
}

// jailWatch is one worker's detector (see the top of the file). It is
// owned by its worker: no locks.
type jailWatch struct {
	g          *jailGroup
	quarantine bool                      // the worker serves the quarantine socket
	mem        *memInfo                  // the socket's receive queue (jail_linux.go)
	minRate    float64                   // jailMinRate, or a quarter of the RateLimit if lower; per second
	n          int                       // datagrams in this window
	start      int64                     // server clock when this window began
	gen        uint64                    // g.gen at the last evaluation
	mg         [jailCounters]jailCounter // Misra–Gries counters of this window
	prev       [jailCounters]jailKey     // candidates of the last window, counted exactly in this one
	prevHits   [jailCounters]int32
	nprev      int
	heavyBuf   [2 * jailCounters]jailKey
	drops      uint32 // the socket's drops at the last evaluation
	backlogged bool   // the socket was backlogged at the last evaluation
}

func newJailWatch(g *jailGroup, rc syscall.RawConn, quarantine bool) (*jailWatch, error) {
	m, err := newMemInfo(rc)
	if err != nil {
		return nil, fmt.Errorf("udpserver: quarantine: %w", err)
	}
	minRate := float64(jailMinRate)
	if r := g.s.RateLimit; r > 0 && r/4 < minRate {
		minRate = r / 4
	}
	w := &jailWatch{g: g, quarantine: quarantine, mem: m, minRate: minRate, start: g.s.now(), gen: g.gen.Load()}
	if m.read() {
		w.drops = m.drops
	}
	if !quarantine {
		if hm, err := newMemInfo(rc); err == nil {
			hm.read()
			g.hashedMu.Lock()
			g.hashed = append(g.hashed, hashedQueue{mem: hm, drops: hm.drops})
			g.hashedMu.Unlock()
		}
	}
	return w, nil
}

// pressed reports whether a hashed socket is short of its worker's time
// now: it dropped datagrams since the last look or its queue holds an
// eighth of its buffer. One getsockopt per hashed socket, asked only by a
// quarantine worker reading faster than jailQuarantineRate, at a window's
// end.
func (g *jailGroup) pressed() bool {
	g.hashedMu.Lock()
	defer g.hashedMu.Unlock()
	pressed := false
	for i := range g.hashed {
		q := &g.hashed[i]
		if !q.mem.read() {
			continue
		}
		if q.mem.drops != q.drops || q.mem.rmem >= q.mem.rcvbuf/8 {
			pressed = true
		}
		q.drops = q.mem.drops
	}
	return pressed
}

// observe counts one datagram from src: at most 2k key comparisons, and
// once per window an evaluation.
func (w *jailWatch) observe(src netip.AddrPort) {
	k := jailKeyOf(src.Addr())
	for i := range w.prev[:w.nprev] {
		if w.prev[i] == k {
			w.prevHits[i]++
			break
		}
	}
	// Misra–Gries: count k if it has a counter or a free one, else
	// take one from every counter (k's datagram and k others cancel).
	free := -1
	for i := range w.mg {
		c := &w.mg[i]
		if c.n == 0 {
			if free < 0 {
				free = i
			}
		} else if c.key == k {
			c.n++
			goto counted
		}
	}
	if free >= 0 {
		w.mg[free] = jailCounter{k, 1}
	} else {
		for i := range w.mg {
			w.mg[i].n--
		}
	}
counted:
	if w.n++; w.n == jailWindow || w.n%jailPart == 0 && w.backlogged && !w.quarantine {
		w.evaluate()
	}
}

// evaluate ends a window. A source is heavy when it sent more than
// jailNeed of this window's datagrams, counted exactly (a candidate of
// the last window) or at least (its Misra–Gries counter in this one,
// which never counts more than it sent: a flood that comes in bursts
// from one address after another may hold a window without having been
// a candidate in the last), and was read faster than minRate. The heavy
// ones are jailed when the window is a surge (its drops rose by
// jailSurge: a flood's first window, or sources not yet jailed still
// overflowing the queue after a jail), or when the socket was backlogged
// at both ends of this window, with a floor jailChangedFloor times higher
// if the jail changed during it:
//   - both ends: a window that begins in a quiet spell of one client and
//     ends in a flood's first moments holds the client's datagrams, but
//     the socket was not backlogged when it began;
//   - backlogged: the socket's drops rose since the last evaluation, or
//     its queue holds three quarters of its buffer;
//   - the jail changed: the window that drains a jailed flood's
//     backlog is made of it, and of its victim's datagrams at their own
//     slow pace, and it ends with the drops the flood caused before its
//     jail took effect: it says little about who floods now (requiring
//     the queue to be still full at the window's end as well missed
//     floods on a loaded machine, whose queue drains whenever the
//     flooder is not scheduled); a source read faster than twice the
//     floor in it, though, floods now;
//   - minRate: a paced client alone on its socket, read as it sends,
//     holds every datagram of a window but is read slowly (a whole window
//     takes 256 ms at 1000/s).
func (w *jailWatch) evaluate() {
	full := w.n == jailWindow
	need := int32(jailNeed)
	if w.quarantine {
		need = jailNeedQuarantine
	}
	now := w.g.s.now()
	dur := float64(now - w.start)
	gen := w.g.gen.Load()
	changed := gen != w.gen
	backlogged, surge, known := false, false, w.mem.read()
	var dropped uint32
	if known {
		dropped = w.mem.drops - w.drops
		backlogged = dropped != 0 || w.mem.rmem >= w.mem.rcvbuf/4*3
		surge = dropped >= uint32(w.n)*jailSurge/jailWindow
	}
	if !full && !backlogged {
		return // a part of a window that began backlogged (observe): still flooded?
	}
	heavy := w.heavyBuf[:0]
	// The quarantine socket refreshes its jailed sources whether or not
	// it keeps up: it holds only them, and one still sending faster than
	// minRate would flood its old socket again the moment it was released
	// (on a loaded machine the quarantine workers often keep up with a
	// flood, and the flood was released and jailed anew every hold).
	if w.quarantine || surge || backlogged && w.backlogged {
		floor := w.minRate
		if changed && !surge && !w.quarantine {
			floor *= jailChangedFloor
		}
		fast := func(hits int32) bool { return float64(hits)*float64(time.Second) > floor*dur }
		for i := range w.prev[:w.nprev] {
			if h := w.prevHits[i]; h > need && fast(h) {
				heavy = append(heavy, w.prev[i])
			}
		}
	mg:
		for _, c := range w.mg {
			if c.n > need && fast(c.n) {
				for _, k := range heavy {
					if k == c.key {
						continue mg
					}
				}
				heavy = append(heavy, c.key)
			}
		}
	}
	// A part window goes on unless it found a flood: sources that hold
	// a sixteenth only of a whole one (10 in turn) need all of it.
	if !full && len(heavy) == 0 {
		return
	}
	w.end(now, gen, known, backlogged)
	if len(heavy) > 0 {
		w.g.heavy(heavy, w.quarantine)
	}
	if w.quarantine {
		w.pace(dur)
	}
}

// end ends a window at now: this window's Misra–Gries candidates are
// counted exactly in the next.
func (w *jailWatch) end(now int64, gen uint64, known, backlogged bool) {
	w.start, w.gen, w.backlogged = now, gen, backlogged
	if known {
		w.drops = w.mem.drops
	}
	w.nprev = 0
	for i := range w.mg {
		if w.mg[i].n > 0 {
			w.prev[w.nprev], w.prevHits[w.nprev] = w.mg[i].key, 0
			w.nprev++
		}
		w.mg[i] = jailCounter{}
	}
	w.n = 0
}

// jailQuarantineRate is the most datagrams a second a quarantine
// socket's worker reads while a hashed socket is pressed (jailGroup.
// pressed: its queue filling or dropping): past it the worker sleeps at a
// window's end and the kernel drops the rest of the jailed floods. Only
// then: a flood forged with a client's address jails the client with it,
// and a quarantine paced while nobody else waits starved that client for
// nothing (62–122 % retransmitted, some messages never acknowledged;
// unpaced, as before, 5–10 %). Read as fast as they
// came, 5 to 10 jailed floods took a core (40–70k/s), and on 2 loaded
// CPUs the victim's own socket, full of the backlog of a flooder not yet
// jailed, was read at 1.8k/s: its client's round trips passed its 50 ms
// minimum timeout (bench/floodbench.sh FLOODERS=10, BENCHMARKS.md
// "Floods"). Twice the default RateLimit: a jailed client within its rate
// limit is still served in full if it is alone there.
const jailQuarantineRate = 20000

// pace sleeps out the rest of the shortest window a quarantine worker
// may read (jailQuarantineRate) after one read in dur ns; the next window
// starts after the sleep, so that its rate is the jailed sources' as they
// are read, not the pace.
func (w *jailWatch) pace(dur float64) {
	const minDur = float64(jailWindow) * float64(time.Second) / jailQuarantineRate
	if dur < minDur && w.g.pressed() {
		time.Sleep(time.Duration(minDur - dur))
		w.start = w.g.s.now()
	}
}
