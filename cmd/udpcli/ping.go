package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/udpkit/udpkit/internal/cliflag"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/wire"
)

func init() {
	register(&command{
		name:    "ping",
		summary: "measure round trips to a udpkit server, like ping",
		usage: `Usage: udpcli ping [flags] HOST:PORT

Send a PING to the udpkit server at HOST:PORT every -i seconds and print
each PONG, the way ping(8) does. The server answers a PING at once, without
running its handler. A probe does not wait for the previous reply; a late
reply still counts, a repeated one is marked (DUP!). When nothing listens
(ICMP port unreachable), each probe prints "Destination Port Unreachable"
and counts as an error; when the host or its network cannot be reached
(ICMP host or network unreachable, or no ARP answer on the LAN), "Destination
Host Unreachable".

Output:
  PING 127.0.0.1:9797 (127.0.0.1:9797) 56 bytes of data.
  72 bytes from 127.0.0.1:9797: seq=1 time=0.045 ms

  --- 127.0.0.1:9797 ping statistics ---
  5 packets transmitted, 5 received, 0% packet loss, time 4005ms
  rtt min/avg/max/mdev = 0.031/0.045/0.060/0.010 ms

The byte count is the PONG's: the 16-byte header and -s bytes of padding.
mdev is the population standard deviation. With --json: one object per
reply or error ("type":"reply"|"error") and a "summary" object at the end.

Ctrl-C prints the summary. SIGQUIT (Ctrl-\), SIGUSR1 or SIGINFO (Ctrl-T
on BSD and macOS) print a status line on stderr and the run goes on:
  5/5 packets, 0% loss, min/avg/ewma/max = 0.031/0.045/0.043/0.060 ms
(ewma: the moving average of the round trips, as iputils ping).
A stdout that cannot be written (> /dev/full) stops ping with status 1.

Exit status: 0 some reply came (with -w and -c:
all -c of them); 1 no reply, or a network error (no route, every
address of the name refused); 2 usage error or bad address.

Examples:
  udpcli ping 127.0.0.1:9797
  udpcli ping -c 5 -i 0.2 [::1]:9797
  udpcli ping -c 3 -q --json server.lan:9797`,
		setup:  setupPing,
		status: true,
	})
}

type pingOptions struct {
	count    int
	interval time.Duration
	wait     time.Duration
	deadline time.Duration
	size     int
	quiet    bool
	json     bool
}

func setupPing(fs *pflag.FlagSet) func(ctx context.Context, io stdio, args []string) error {
	var o pingOptions
	fs.IntVarP(&o.count, "count", "c", 0, "stop after sending this many probes (0: until Ctrl-C or -w)")
	interval := cliflag.Seconds(fs, "interval", "i", time.Second, "seconds between probes (0.2 or 200ms)")
	wait := cliflag.Seconds(fs, "timeout", "W", time.Second, "seconds to wait for the last replies after the last probe (-c)")
	deadline := cliflag.Seconds(fs, "deadline", "w", 0, "stop after this many seconds, whatever happened (0: no deadline)")
	fs.IntVarP(&o.size, "size", "s", 56, "bytes of padding in each PING (the header adds 16)")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "print only the first line and the summary")
	fs.BoolVar(&o.json, "json", false, "write JSON Lines: one object per reply and a summary object")
	return func(ctx context.Context, io stdio, args []string) error {
		o.interval, o.wait, o.deadline = *interval, *wait, *deadline
		return runPing(ctx, io, args, o)
	}
}

// pingState is shared by the sending loop and the client's reader, which
// delivers the replies.
type pingState struct {
	mu          sync.Mutex
	o           pingOptions
	io          stdio
	enc         *json.Encoder
	from        string
	stopped     bool
	transmitted int
	received    int
	dups        int
	errs        int
	answered    map[int]bool
	rtts        []time.Duration
	ewma        float64 // ms, weight 1/8 as iputils ping
	kick        chan struct{}
}

// printStatus writes ping's interim status line (SIGQUIT) to stderr, as
// iputils ping does. s.mu is held.
func (s *pingState) printStatus() {
	loss := 0
	if s.transmitted > 0 {
		loss = (s.transmitted - s.received) * 100 / s.transmitted
	}
	line := fmt.Sprintf("%d/%d packets, %d%% loss", s.received, s.transmitted, loss)
	if n := len(s.rtts); n > 0 {
		minR, maxR, sum := s.rtts[0], s.rtts[0], time.Duration(0)
		for _, r := range s.rtts {
			minR, maxR, sum = min(minR, r), max(maxR, r), sum+r
		}
		line += fmt.Sprintf(", min/avg/ewma/max = %.3f/%.3f/%.3f/%.3f ms",
			msNumber(minR), float64(sum)/float64(n)/1e6, s.ewma, msNumber(maxR))
	}
	fmt.Fprintln(s.io.err, line)
}

type pingRecordJSON struct {
	Type  string   `json:"type"`
	Seq   int      `json:"seq"`
	ID    string   `json:"id"` // wire.IDString
	Addr  string   `json:"addr"`
	Size  int      `json:"size,omitempty"` // payload bytes, as -s (the text line counts the header too)
	RTTms *float64 `json:"rtt_ms,omitempty"`
	Dup   bool     `json:"duplicate,omitempty"`
	Error string   `json:"error,omitempty"`
}

func (s *pingState) handle(seq int, p client.Pong) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	rec := pingRecordJSON{Type: "reply", Seq: seq, ID: wire.IDString(p.ID), Addr: s.from}
	var line string
	switch {
	case errors.Is(p.Err, client.ErrUnreachable):
		s.errs++
		s.answered[seq] = true
		rec.Type, rec.Error = "error", "destination host unreachable"
		line = fmt.Sprintf("From %s seq=%d Destination Host Unreachable", s.from, seq)
	case p.Err != nil:
		s.errs++
		s.answered[seq] = true
		rec.Type, rec.Error = "error", "destination port unreachable"
		line = fmt.Sprintf("From %s seq=%d Destination Port Unreachable", s.from, seq)
	default:
		t := msNumber(p.RTT)
		rec.Size, rec.RTTms, rec.Dup = max(0, p.Size-wire.HeaderLen), &t, p.Dup
		line = fmt.Sprintf("%d bytes from %s: seq=%d time=%s ms", p.Size, s.from, seq, fmtMs(p.RTT))
		if p.Dup {
			s.dups++
			line += " (DUP!)"
		} else {
			s.received++
			s.answered[seq] = true
			s.rtts = append(s.rtts, p.RTT)
			if len(s.rtts) == 1 {
				s.ewma = float64(p.RTT) / 1e6
			} else {
				s.ewma += (float64(p.RTT)/1e6 - s.ewma) / 8
			}
		}
	}
	switch {
	case s.o.quiet:
	case s.o.json:
		s.enc.Encode(rec)
	default:
		fmt.Fprintln(s.io.out, line)
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func runPing(ctx context.Context, stdio stdio, args []string, o pingOptions) error {
	switch {
	case len(args) == 0:
		return usagef("missing HOST:PORT")
	case len(args) > 1:
		if hint := splitPortHint(args); hint != "" && len(args) == 2 {
			return usagef("too many arguments: want one HOST:PORT, such as %s", hint)
		}
		return usagef("too many arguments: want one HOST:PORT")
	case o.count < 0:
		return usagef("-c %d: want 0 or more", o.count)
	case o.interval < time.Millisecond:
		return usagef("-i: the interval must be at least 0.001 s")
	case o.wait <= 0:
		return usagef("-W: the wait must be more than 0")
	case o.size < 0 || o.size > wire.MaxDatagram-wire.HeaderLen:
		return usagef("-s %d: want 0 to %d", o.size, wire.MaxDatagram-wire.HeaderLen)
	}
	c, err := dialServer(ctx, args[0], client.Config{MaxDatagram: max(wire.DefaultMaxDatagram, wire.HeaderLen+o.size)})
	if err != nil {
		return err
	}
	defer c.Close()

	body := make([]byte, o.size)
	for i := range body {
		body[i] = byte(i) // ping's pattern
	}
	// udpserver drops a PING larger than its --max-size (default 1472, an
	// Ethernet frame) without answering: it cannot echo one smaller.
	oversized := wire.HeaderLen+o.size > wire.DefaultMaxDatagram
	if oversized {
		fmt.Fprintf(stdio.err, "udpcli ping: note: a %d-byte PING is larger than udpserver accepts by default (%d bytes, --max-size) and than one Ethernet frame holds: a server with that limit drops it unanswered\n",
			wire.HeaderLen+o.size, wire.DefaultMaxDatagram)
	}
	s := &pingState{o: o, io: stdio, enc: json.NewEncoder(stdio.out), from: c.RemoteAddr().String(),
		answered: map[int]bool{}, kick: make(chan struct{}, 1)}
	if !o.json {
		fmt.Fprintf(stdio.out, "PING %s (%s) %d bytes of data.\n", args[0], s.from, o.size)
	}

	start := time.Now()
	var deadline <-chan time.Time
	if o.deadline > 0 {
		t := time.NewTimer(o.deadline)
		defer t.Stop()
		deadline = t.C
	}
	ticker := time.NewTicker(o.interval)
	defer ticker.Stop()
	var linger <-chan time.Time
	seq := 0
	send := func() error {
		seq++
		n := seq
		s.mu.Lock()
		s.transmitted++
		s.mu.Unlock()
		_, err := c.StartPing(body, func(p client.Pong) { s.handle(n, p) })
		if errors.Is(err, client.ErrUnreachable) {
			// The local system knows no way there (no route, no ARP
			// answer): this probe's error, as ping says it; go on.
			s.handle(n, client.Pong{Err: err})
		} else if err != nil && !errors.Is(err, client.ErrRefused) {
			return err
		}
		if o.count > 0 && seq >= o.count {
			ticker.Stop()
			linger = time.After(o.wait)
		}
		return nil
	}
	var loopErr error
	if loopErr = send(); loopErr == nil {
	loop:
		for {
			if linger != nil {
				s.mu.Lock()
				all := len(s.answered) == s.transmitted
				s.mu.Unlock()
				if all {
					break
				}
			}
			select {
			case <-ticker.C:
				if loopErr = send(); loopErr != nil {
					break loop
				}
			case <-s.kick:
			case <-stdio.status:
				s.mu.Lock()
				s.printStatus()
				s.mu.Unlock()
			case <-linger:
				break loop
			case <-deadline:
				break loop
			case <-ctx.Done():
				break loop
			}
		}
	}
	elapsed := time.Since(start)

	s.mu.Lock()
	s.stopped = true
	s.printSummary(args[0], elapsed)
	received := s.received
	s.mu.Unlock()
	switch {
	case loopErr != nil:
		return failed(loopErr)
	case received == 0 && oversized:
		return failed(fmt.Errorf("no reply to %d-byte PINGs: more than the server's default limit of %d bytes (try -s %d or less, or udpserver --max-size)",
			wire.HeaderLen+o.size, wire.DefaultMaxDatagram, wire.DefaultMaxDatagram-wire.HeaderLen))
	case received == 0:
		return failed(nil)
	case o.deadline > 0 && o.count > 0 && received < o.count:
		return failed(nil)
	}
	return nil
}

// printSummary writes ping's statistics. s.mu is held.
func (s *pingState) printSummary(host string, elapsed time.Duration) {
	loss := 0.0
	if s.transmitted > 0 {
		loss = float64(s.transmitted-s.received) * 100 / float64(s.transmitted)
	}
	var minR, maxR, sum time.Duration
	for i, r := range s.rtts {
		if i == 0 || r < minR {
			minR = r
		}
		maxR = max(maxR, r)
		sum += r
	}
	var avg, mdev float64 // milliseconds
	if n := len(s.rtts); n > 0 {
		avg = float64(sum) / float64(n) / 1e6
		var sq float64
		for _, r := range s.rtts {
			d := float64(r)/1e6 - avg
			sq += d * d
		}
		mdev = math.Sqrt(sq / float64(n))
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	if s.o.json {
		sum := map[string]any{
			"type": "summary", "target": host, "addr": s.from,
			"sent": s.transmitted, "replies": s.received, "duplicates": s.dups, "errors": s.errs,
			"loss_percent": loss, "elapsed_ms": msNumber(elapsed),
		}
		if len(s.rtts) > 0 {
			sum["rtt_min_ms"], sum["rtt_avg_ms"], sum["rtt_max_ms"], sum["rtt_mdev_ms"] = round3(ms(minR)), round3(avg), round3(ms(maxR)), round3(mdev)
		}
		s.enc.Encode(sum)
		return
	}
	w := s.io.out
	fmt.Fprintf(w, "\n--- %s ping statistics ---\n", host)
	fmt.Fprintf(w, "%d packets transmitted, %d received", s.transmitted, s.received)
	if s.dups > 0 {
		fmt.Fprintf(w, ", +%d duplicates", s.dups)
	}
	if s.errs > 0 {
		fmt.Fprintf(w, ", +%d errors", s.errs)
	}
	fmt.Fprintf(w, ", %s%% packet loss, time %dms\n", strconv.FormatFloat(loss, 'g', 6, 64), elapsed.Milliseconds())
	if len(s.rtts) > 0 {
		fmt.Fprintf(w, "rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", ms(minR), avg, ms(maxR), mdev)
	}
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
