package client

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/client/clienttest"
	"github.com/udpkit/udpkit/internal/readloop"
)

// fakeLookup resolves every name to addrs, so that tests never look a name
// up for real.
func fakeLookup(t *testing.T, addrs ...string) lookupFunc {
	t.Helper()
	var as []netip.Addr
	for _, s := range addrs {
		as = append(as, netip.MustParseAddr(s))
	}
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		if host != "server.test" {
			t.Errorf("looked up %q", host)
		}
		return as, nil
	}
}

// portOf returns the port of a "host:port" address.
func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func haveIPv6Loopback(t *testing.T) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Skipf("skipping: no IPv6 loopback: %v", err)
	}
	pc.Close()
}

func TestDialTriesEachAddress(t *testing.T) {
	tests := []struct {
		name      string
		addrs     []string
		behavior  clienttest.Behavior
		wantPings int // PINGs that reached the responder on 127.0.0.1
	}{
		// Debian's /etc/hosts: ::1 first; the server listens on 127.0.0.1
		// only, so ::1 refuses and the next address answers.
		{"v6 refused, v4 answers", []string{"::1", "127.0.0.1"}, clienttest.Behavior{}, 1},
		{"first answers", []string{"127.0.0.1", "::1"}, clienttest.Behavior{}, 1},
		// Silence is not a refusal: a slow or lossy server is used.
		{"first silent", []string{"127.0.0.1", "::1"}, clienttest.Behavior{Silent: true}, 1},
		// One address: no probe at all, as before.
		{"one address", []string{"127.0.0.1"}, clienttest.Behavior{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startResponder(t, "127.0.0.1:0", tt.behavior)
			port := portOf(t, r.Addr())
			c := dial(t, "server.test:"+port, Config{
				InitialTimeout: 50 * time.Millisecond,
				lookup:         fakeLookup(t, tt.addrs...),
			})
			if got, want := c.RemoteAddr().String(), "127.0.0.1:"+port; got != want {
				t.Errorf("RemoteAddr = %s, want %s", got, want)
			}
			if got := r.Pings(); got != tt.wantPings {
				t.Errorf("responder got %d PINGs, want %d", got, tt.wantPings)
			}
			if tt.behavior.Silent {
				return
			}
			if _, err := c.Send(testContext(t), []byte("hi")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDialAllRefused(t *testing.T) {
	haveIPv6Loopback(t)
	port := portOf(t, closedPort(t, "udp4", "127.0.0.1:0"))
	_, err := Dial(testContext(t), "server.test:"+port, Config{lookup: fakeLookup(t, "::1", "127.0.0.1")})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v, want ErrRefused", err)
	}
	for _, want := range []string{"server.test:" + port, "[::1]:" + port, "127.0.0.1:" + port} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %s", err, want)
		}
	}
}

func TestDialProbeHonoursContext(t *testing.T) {
	// A silent server that cancels the dial when the probe arrives.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	go func() {
		buf := make([]byte, 2048)
		if _, _, err := pc.ReadFrom(buf); err == nil {
			cancel()
		}
	}()
	_, err = Dial(ctx, "server.test:"+portOf(t, pc.LocalAddr().String()), Config{
		lookup: fakeLookup(t, "127.0.0.1", "::1"),
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestDialBadAddressIs(t *testing.T) {
	notFound := func(ctx context.Context, host string) ([]netip.Addr, error) {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	unreachable := func(ctx context.Context, host string) ([]netip.Addr, error) {
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
	}
	none := func(ctx context.Context, host string) ([]netip.Addr, error) { return nil, nil }
	tests := []struct {
		addr   string
		lookup lookupFunc
		bad    bool
	}{
		{"foo", nil, true},
		{"127.0.0.1:0", nil, true},
		{"[::1:9797", nil, true},
		{"nosuch.test:9797", notFound, true},
		{"nosuch.test:9797", none, true},
		{"server.test:9797", unreachable, false},
	}
	for _, tt := range tests {
		_, err := Dial(testContext(t), tt.addr, Config{lookup: tt.lookup})
		if err == nil {
			t.Errorf("Dial(%q) succeeded", tt.addr)
			continue
		}
		if errors.Is(err, ErrBadAddress) != tt.bad {
			t.Errorf("Dial(%q): %v; ErrBadAddress %v, want %v", tt.addr, err, !tt.bad, tt.bad)
		}
	}
}

func TestIDsExactInJSON(t *testing.T) {
	for range 100000 {
		if id := startID(); id == 0 || id > startIDSpan {
			t.Fatalf("startID() = %d, want 1 to 2^52", id)
		}
	}
	r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{})
	for range 20 {
		c := dial(t, r.Addr(), Config{})
		res, err := c.Send(testContext(t), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		// The first ID leaves 2^52 IDs before float64 loses precision.
		if res.ID > startIDSpan || uint64(float64(res.ID+startIDSpan-1)) != res.ID+startIDSpan-1 {
			t.Errorf("first ID %d: not exact as a float64 for 2^52 increments", res.ID)
		}
	}
}

// The context of Dial ending just after the probe's PONG arrived must not
// leave a read deadline in the past on the socket handed to the client:
// its read loop would fail every read and no reply would ever arrive.
// The hooks widen the window: the context ends right after the read, and
// its wake-up runs late.
func TestDialContextEndsAfterProbe(t *testing.T) {
	r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{})
	port := portOf(t, r.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	testHookProbeRead = cancel
	readloop.TestHookWake = func() { time.Sleep(50 * time.Millisecond) }
	t.Cleanup(func() { testHookProbeRead, readloop.TestHookWake = nil, nil })
	c, err := Dial(ctx, "server.test:"+port, Config{
		InitialTimeout: 50 * time.Millisecond,
		lookup:         fakeLookup(t, "127.0.0.1", "::1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(150 * time.Millisecond) // a late wake-up has run by now
	if _, err := c.Send(testContext(t), []byte("hi")); err != nil {
		t.Fatalf("Send after Dial's context ended: %v", err)
	}
}

func TestResolveExported(t *testing.T) {
	aps, err := Resolve(context.Background(), "127.0.0.1:9797")
	if err != nil || len(aps) != 1 || aps[0] != netip.MustParseAddrPort("127.0.0.1:9797") {
		t.Errorf("Resolve = %v, %v", aps, err)
	}
	if _, err := Resolve(context.Background(), "::1:9797"); !errors.Is(err, ErrBadAddress) {
		t.Errorf("::1:9797: %v, want ErrBadAddress", err)
	}
}
