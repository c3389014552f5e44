package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/udpkit/udpkit/internal/readloop"
	"github.com/udpkit/udpkit/wire"
)

// lookupFunc resolves a host name; tests substitute a fake so that no name
// is ever looked up for real.
type lookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// Dial resolves address ("host:port": a name, an IPv4 address or a bracketed
// IPv6 address such as "[::1]:9797") and returns a Client with a connected
// UDP socket to it. A connected socket makes the kernel report an ICMP port
// unreachable for our traffic as ECONNREFUSED, which the client turns into
// ErrRefused at once instead of waiting for timeouts. A zero cfg (or
// DefaultConfig()) uses the defaults.
//
// When a name has several addresses ("localhost" is often both ::1 and
// 127.0.0.1, but a server may listen on only one), Dial tries them in the
// resolver's order. For each, it connects a socket and sends one PING, then
// waits for the smaller of Config.InitialTimeout and 200 ms:
//
//   - a PONG: the address is used;
//   - an ICMP port unreachable (nothing listens there), or a local error
//     such as no route: Dial tries the next address;
//   - silence: the address is used anyway, because a server that is slow,
//     lossy, or drops PINGs is still a server; sends to it then retransmit
//     and time out as usual.
//
// When every address refused, the error matches ErrRefused and names them
// all. A late PONG to the probe is counted in Stats.Unmatched; the probe is
// not counted in Stats.Sent. An address given as a literal, or a name with
// a single address, is used without a probe.
//
// An address that cannot be parsed, or a name that does not exist, gives an
// error matching ErrBadAddress; a resolver that cannot be reached does not.
func Dial(ctx context.Context, address string, cfg Config) (*Client, error) {
	rc := cfg.resolve()
	aps, err := resolve(ctx, address, rc.lookup)
	if err != nil {
		return nil, err
	}
	if len(aps) == 1 {
		nc, err := dialUDP(ctx, aps[0])
		if err != nil {
			return nil, err
		}
		return newClient(nc, aps[0], cfg), nil
	}

	wait := min(rc.initial, DefaultInitialTimeout)
	pa := newAuthState(cfg.Keys) // the probe's own sender ID
	var errs []error
	allRefused := true
	for _, ap := range aps {
		nc, err := dialUDP(ctx, ap)
		if err == nil {
			var answered bool
			answered, err = probe(ctx, nc, wait, pa)
			if err == nil {
				rc.log.Debug("udpkit client: probed address", "address", address, "remote", ap, "answered", answered)
				return newClient(nc, ap, cfg), nil
			}
			nc.Close()
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("client: dial %s: %w", address, ctxErr)
		}
		rc.log.Debug("udpkit client: skipped address", "address", address, "remote", ap, "err", err)
		if isRefused(err) {
			err = fmt.Errorf("%s refused", ap)
		} else {
			allRefused = false
		}
		errs = append(errs, err)
	}
	names := make([]string, len(aps))
	for i, ap := range aps {
		names[i] = ap.String()
	}
	if allRefused {
		return nil, fmt.Errorf("%w: nothing listening on %s (ICMP port unreachable from %s)",
			ErrRefused, address, strings.Join(names, " and "))
	}
	return nil, fmt.Errorf("client: no address of %s is usable (tried %s): %w",
		address, strings.Join(names, ", "), errors.Join(errs...))
}

// dialUDP returns a UDP socket connected to ap.
func dialUDP(ctx context.Context, ap netip.AddrPort) (*net.UDPConn, error) {
	d := net.Dialer{Control: recvErr}
	nc, err := d.DialContext(ctx, "udp", ap.String())
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return nc.(*net.UDPConn), nil
}

// probe sends one PING on nc and waits up to wait for its PONG. It reports
// whether the PONG came; the error is the socket's refusal (or another
// error of the socket, or ctx's) and is nil when nothing came back.
func probe(ctx context.Context, nc *net.UDPConn, wait time.Duration, a *authState) (bool, error) {
	id := startID()
	ping, err := a.seal(wire.Append(nil, wire.Header{Type: wire.TypePing, ID: id}, nil))
	if err != nil {
		return false, err
	}
	if _, err := nc.Write(ping); err != nil {
		return false, err
	}
	deadline := time.Now().Add(wait)
	if err := nc.SetReadDeadline(deadline); err != nil {
		return false, err
	}
	// The socket goes to the client afterwards: it must leave without a
	// deadline, whenever ctx ends (readloop.Wake waits for the wake-up).
	defer readloop.Wake(ctx, nc, time.Time{})()
	buf := make([]byte, wire.MaxDatagram+1)
	for {
		n, err := nc.Read(buf)
		if testHookProbeRead != nil {
			testHookProbeRead()
		}
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return false, nil // silence: use the address anyway
			}
			return false, err
		}
		if h, _, err := a.open(buf[:n]); err == nil && h.Type == wire.TypePong && h.ID == id {
			return true, nil
		}
		// Anything else (a stray or malformed datagram) is not the answer.
	}
}

// testHookProbeRead, for tests, runs after each read of probe.
var testHookProbeRead func()

// Resolve parses address (HOST:PORT) and resolves its host the way Dial
// does, with the same errors (ErrBadAddress for a malformed address, a
// port out of range or a name that does not exist), for callers that open
// their own socket (a load generator). The addresses come in the
// resolver's order, without duplicates.
func Resolve(ctx context.Context, address string) ([]netip.AddrPort, error) {
	return resolve(ctx, address, Config{}.resolve().lookup)
}

func badAddress(address, why string) error {
	return fmt.Errorf("%w %q: %s; want HOST:PORT, e.g. 127.0.0.1:9797 or [::1]:9797", ErrBadAddress, address, why)
}

// resolve turns "host:port" into its addresses and port, in the resolver's
// order, without duplicates.
func resolve(ctx context.Context, address string, lookup lookupFunc) ([]netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		why := "no port"
		if strings.Count(address, ":") > 1 && !strings.HasPrefix(address, "[") {
			why = "IPv6 addresses need brackets"
		} else if strings.Contains(address, ":") {
			why = strings.TrimPrefix(err.Error(), "address "+address+": ")
		}
		return nil, badAddress(address, why)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, badAddress(address, fmt.Sprintf("port %q is not a number from 1 to 65535", port))
	}
	if host == "" {
		return nil, badAddress(address, "no host")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), uint16(p))}, nil
	}
	addrs, err := lookup(ctx, host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, fmt.Errorf("%w %q: %w", ErrBadAddress, address, err)
		}
		return nil, fmt.Errorf("client: resolve %q: %w", address, err)
	}
	var aps []netip.AddrPort
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a.Unmap(), uint16(p))
		if !containsAddrPort(aps, ap) {
			aps = append(aps, ap)
		}
	}
	if len(aps) == 0 {
		return nil, fmt.Errorf("%w %q: host %s has no address", ErrBadAddress, address, host)
	}
	return aps, nil
}

func containsAddrPort(aps []netip.AddrPort, ap netip.AddrPort) bool {
	for _, x := range aps {
		if x == ap {
			return true
		}
	}
	return false
}
