package client

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// PingRunConfig configures PingRun, ping(8)'s loop. The zero value pings
// once a second until ctx ends.
type PingRunConfig struct {
	// Count is how many PINGs to send; 0 (the default): until ctx ends or
	// the Deadline.
	Count int
	// Interval is the time between PINGs. Default 1 s.
	Interval time.Duration
	// Wait is how long to wait for the last replies after the last of
	// Count PINGs (ping's -W). Default 1 s.
	Wait time.Duration
	// Deadline ends the run this long after it started, whatever
	// happened (ping's -w). Default 0: none.
	Deadline time.Duration
	// Body is the padding of each PING, echoed by the server.
	Body []byte
	// OnReply is called for every PONG, duplicate PONG or error (Pong.Err:
	// ErrRefused, ErrUnreachable) with the sequence number of its PING
	// (from 1), one call at a time and never after PingRun returned. It
	// must not block.
	OnReply func(seq int, p Pong)
	// Status, when not nil, asks for the statistics so far while the run
	// goes on: each value received from it calls OnStatus with them (as
	// ping on SIGQUIT).
	Status   <-chan struct{}
	OnStatus func(PingStats)
}

// DefaultPingRunConfig returns the defaults of a PingRunConfig spelled out
// (udpkit's convention: PingRun(ctx, DefaultPingRunConfig()) and
// PingRun(ctx, PingRunConfig{}) behave the same).
func DefaultPingRunConfig() PingRunConfig {
	return PingRunConfig{Interval: time.Second, Wait: time.Second}
}

func (cfg PingRunConfig) withDefaults() PingRunConfig {
	d := DefaultPingRunConfig()
	if cfg.Interval <= 0 {
		cfg.Interval = d.Interval
	}
	if cfg.Wait <= 0 {
		cfg.Wait = d.Wait
	}
	return cfg
}

// PingPadding returns n bytes of ping(8)'s pattern (byte i is i mod
// 256), the Body of a PING of n bytes beyond the header.
func PingPadding(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// PingStats sums up a PingRun, as ping's statistics.
type PingStats struct {
	// Transmitted counts the PINGs sent, Received the first PONG of each,
	// Duplicates the further ones, Errors the PINGs answered with an
	// error (ICMP port, host or network unreachable).
	Transmitted, Received, Duplicates, Errors int
	// RTTs are the round trips of the received PONGs, in arrival order.
	RTTs []time.Duration
	// EWMA is the moving average of the round trips, weight 1/8, as
	// iputils ping shows it on SIGQUIT.
	EWMA time.Duration
	// Elapsed is the length of the run.
	Elapsed time.Duration
}

// Loss is the percentage of transmitted PINGs that got no PONG.
func (s PingStats) Loss() float64 {
	if s.Transmitted == 0 {
		return 0
	}
	return float64(s.Transmitted-s.Received) * 100 / float64(s.Transmitted)
}

// RTT returns the smallest, mean, largest round trip and their population
// standard deviation (ping's mdev); all zero without a PONG.
func (s PingStats) RTT() (minRTT, avg, maxRTT, mdev time.Duration) {
	n := len(s.RTTs)
	if n == 0 {
		return 0, 0, 0, 0
	}
	var sum time.Duration
	minRTT = s.RTTs[0]
	for _, r := range s.RTTs {
		minRTT, maxRTT, sum = min(minRTT, r), max(maxRTT, r), sum+r
	}
	mean := float64(sum) / float64(n)
	var sq float64
	for _, r := range s.RTTs {
		d := float64(r) - mean
		sq += d * d
	}
	return minRTT, time.Duration(math.Round(mean)), maxRTT, time.Duration(math.Round(math.Sqrt(sq / float64(n))))
}

// PingRun pings the server the way ping(8) does: a PING every Interval
// without waiting for the previous reply (late replies still count), until
// Count were sent and answered or Wait passed after the last, the
// Deadline, or the end of ctx. It returns the statistics, and an error
// when a PING could not be sent (ErrRefused and ErrUnreachable are that
// PING's reply, not an error of the run).
func (c *Client) PingRun(ctx context.Context, cfg PingRunConfig) (PingStats, error) {
	cfg = cfg.withDefaults()
	var (
		mu       sync.Mutex
		st       PingStats
		stopped  bool
		answered = map[int]bool{}
		kick     = make(chan struct{}, 1)
	)
	handle := func(seq int, p Pong) {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		switch {
		case p.Err != nil:
			st.Errors++
			answered[seq] = true
		case p.Dup:
			st.Duplicates++
		default:
			st.Received++
			answered[seq] = true
			st.RTTs = append(st.RTTs, p.RTT)
			if len(st.RTTs) == 1 {
				st.EWMA = p.RTT
			} else {
				st.EWMA += (p.RTT - st.EWMA) / 8
			}
		}
		if cfg.OnReply != nil {
			cfg.OnReply(seq, p)
		}
		select {
		case kick <- struct{}{}:
		default:
		}
	}

	start := time.Now()
	var deadline <-chan time.Time
	if cfg.Deadline > 0 {
		t := time.NewTimer(cfg.Deadline)
		defer t.Stop()
		deadline = t.C
	}
	ticker := time.NewTicker(cfg.Interval)
	defer ticker.Stop()
	var linger <-chan time.Time
	seq := 0
	send := func() error {
		seq++
		n := seq
		mu.Lock()
		st.Transmitted++
		mu.Unlock()
		_, err := c.StartPing(cfg.Body, func(p Pong) { handle(n, p) })
		if errors.Is(err, ErrUnreachable) {
			// The local system knows no way there (no route, no ARP
			// answer): this PING's error, as ping says it; go on.
			handle(n, Pong{Err: err})
		} else if err != nil && !errors.Is(err, ErrRefused) {
			return err
		}
		if cfg.Count > 0 && seq >= cfg.Count {
			ticker.Stop()
			linger = time.After(cfg.Wait)
		}
		return nil
	}
	err := send()
loop:
	for err == nil {
		if linger != nil {
			mu.Lock()
			all := len(answered) == st.Transmitted
			mu.Unlock()
			if all {
				break
			}
		}
		select {
		case <-ticker.C:
			err = send()
		case <-kick:
		case <-cfg.Status:
			if cfg.OnStatus != nil {
				mu.Lock()
				now := st
				now.RTTs = append([]time.Duration(nil), st.RTTs...)
				now.Elapsed = time.Since(start)
				mu.Unlock()
				cfg.OnStatus(now)
			}
		case <-linger:
			break loop
		case <-deadline:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	mu.Lock()
	defer mu.Unlock()
	stopped = true
	st.Elapsed = time.Since(start)
	st.RTTs = append([]time.Duration(nil), st.RTTs...)
	return st, err
}
