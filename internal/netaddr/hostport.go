package netaddr

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Errors of SplitHostPort and CheckHost; the messages say what is wrong
// without naming the flag, which the caller adds.
var (
	// ErrNoPort: the address is not host:port.
	ErrNoPort = errors.New("want host:port")
	// ErrBadPort: the port is not a number from 0 to 65535.
	ErrBadPort = errors.New("bad port")
	// ErrNotIP: the host looks like an IP address and is not one.
	ErrNotIP = errors.New("not an IP address")
)

// addrError is an error matching kind whose text is msg alone.
type addrError struct {
	kind error
	msg  string
}

func (e *addrError) Error() string { return e.msg }
func (e *addrError) Unwrap() error { return e.kind }

// SplitHostPort splits address (host:port, as a listen flag takes it: the
// host may be empty or a name, the port is a number from 0 to 65535) and
// returns the host. Nothing is resolved.
func SplitHostPort(address string) (host string, err error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", ErrNoPort
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", &addrError{ErrBadPort, fmt.Sprintf("port %q is not a number from 0 to 65535", port)}
	}
	return host, nil
}

// CheckHost refuses a host that can only have been meant as an IP address
// (digits and dots, or a colon) and is not one: "1.2.3" must never reach
// a resolver as a name. Names and valid addresses pass.
func CheckHost(host string) error {
	numeric := strings.Contains(host, ":") || host != "" && strings.Trim(host, "0123456789.") == ""
	if !numeric {
		return nil
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return &addrError{ErrNotIP, fmt.Sprintf("%q is not an IP address", host)}
	}
	return nil
}

// MulticastHost returns the host of address (host:port), as written, when
// it is a multicast address literal: what a unicast peer's address must
// not be.
func MulticastHost(address string) (host string, ok bool) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return "", false
	}
	a, err := netip.ParseAddr(host)
	return host, err == nil && a.IsMulticast()
}

// PortHint returns the host:port that host and port, given apart
// ("127.0.0.1" "9797", as ping users type them), stand for: "127.0.0.1:9797",
// "[::1]:9797". It returns "" when they do not look like that: host has a
// port already, port is not a number from 1 to 65535, or host holds colons
// without being an IPv6 address.
func PortHint(host, port string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return ""
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
		return net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") {
		return ""
	}
	return host + ":" + port
}
