package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/udpkit/udpkit/internal/natstest"
)

// blackHole is a TCP relay to a NATS server that can silently drop
// everything, both ways, without closing either connection: a cut cable
// or a partition, which TCP itself notices only after minutes.
type blackHole struct {
	ln   net.Listener
	cut  atomic.Bool
	mu   sync.Mutex
	open []net.Conn
}

func newBlackHole(t *testing.T, to string) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.open {
			c.Close()
		}
		b.mu.Unlock()
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			b.mu.Lock()
			b.open = append(b.open, in, out)
			b.mu.Unlock()
			go b.relay(in, out)
			go b.relay(out, in)
		}
	}()
	return b
}

func (b *blackHole) relay(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if b.cut.Load() {
			continue // dropped
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for the logger's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// --forward-ping makes a silently cut link to the broker noticed in
// seconds (nats.go's default ping interval is 2 minutes): the forwarder
// logs the connection lost.
func TestForwardPingNoticesCutLink(t *testing.T) {
	node := natstest.Start(t)
	hole := newBlackHole(t, strings.TrimPrefix(node.URL(), "nats://"))
	var o forwardOptions
	fs := pflag.NewFlagSet("udpserver", pflag.ContinueOnError)
	o.register(fs)
	if err := fs.Parse([]string{"--forward", "nats://" + hole.ln.Addr().String(), "--forward-create", "--forward-ping", "0.2"}); err != nil {
		t.Fatal(err)
	}
	if err := o.validate(fs); err != nil {
		t.Fatal(err)
	}
	var logBuf lockedBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	f, err := startForward(t.Context(), o, "pinged", "_udpkit._udp", log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.close(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	if got := f.nc.Opts.PingInterval; got != 200*time.Millisecond {
		t.Errorf("ping interval %v, want 200ms", got)
	}
	hole.cut.Store(true)
	cut := time.Now()
	for !strings.Contains(logBuf.String(), "NATS connection lost") {
		if time.Since(cut) > 10*time.Second {
			t.Fatalf("cut link not noticed after 10 s; log:\n%s", logBuf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("cut link noticed after %v", time.Since(cut).Round(time.Millisecond))
}

func TestForwardPingDefault(t *testing.T) {
	var o forwardOptions
	fs := pflag.NewFlagSet("udpserver", pflag.ContinueOnError)
	o.register(fs)
	if *o.ping != 2*time.Second {
		t.Errorf("--forward-ping default %v, want 2s", *o.ping)
	}
	if u := fs.Lookup("forward-ping").Usage; !strings.Contains(u, "2 minutes") {
		t.Errorf("--forward-ping help %q does not say nats.go's default", u)
	}
}
