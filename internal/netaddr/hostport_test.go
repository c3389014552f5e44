package netaddr

import (
	"errors"
	"testing"
)

func TestSplitHostPortAndCheckHost(t *testing.T) {
	for _, tc := range []struct {
		in      string
		host    string
		split   error // SplitHostPort's error
		checkOK bool  // CheckHost(host) passes
	}{
		{"127.0.0.1:9797", "127.0.0.1", nil, true},
		{"[::1]:0", "::1", nil, true},
		{":9797", "", nil, true},
		{"localhost:65535", "localhost", nil, true},
		{"server.lan:1", "server.lan", nil, true},
		{"1.2.3:9797", "1.2.3", nil, false},
		{"[fe80::1%eth0]:9797", "fe80::1%eth0", nil, true},
		{"[1::2::3]:9797", "1::2::3", nil, false},
		{"127.0.0.1", "", ErrNoPort, true},
		{"::1:9797", "", ErrNoPort, true},
		{"127.0.0.1:x", "", ErrBadPort, true},
		{"127.0.0.1:65536", "", ErrBadPort, true},
	} {
		host, err := SplitHostPort(tc.in)
		if !errors.Is(err, tc.split) || tc.split == nil && err != nil {
			t.Errorf("SplitHostPort(%q) error %v, want %v", tc.in, err, tc.split)
			continue
		}
		if host != tc.host {
			t.Errorf("SplitHostPort(%q) = %q, want %q", tc.in, host, tc.host)
		}
		if err := CheckHost(tc.host); (err == nil) != tc.checkOK || err != nil && !errors.Is(err, ErrNotIP) {
			t.Errorf("CheckHost(%q) = %v, want ok %v", tc.host, err, tc.checkOK)
		}
	}
	if _, err := SplitHostPort("h:x"); err == nil || err.Error() != `port "x" is not a number from 0 to 65535` {
		t.Errorf("bad port message: %v", err)
	}
	if err := CheckHost("1.2.3"); err == nil || err.Error() != `"1.2.3" is not an IP address` {
		t.Errorf("not an IP message: %v", err)
	}
}

func TestMulticastHost(t *testing.T) {
	for in, want := range map[string]bool{
		"239.1.2.3:9797": true, "[ff02::1]:9797": true, "224.0.0.251:5353": true,
		"127.0.0.1:9797": false, "[::1]:9797": false, "server.lan:9797": false, "239.1.2.3": false, "": false,
	} {
		if _, got := MulticastHost(in); got != want {
			t.Errorf("MulticastHost(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestPortHint(t *testing.T) {
	for _, tc := range []struct{ host, port, want string }{
		{"127.0.0.1", "9797", "127.0.0.1:9797"},
		{"::1", "9797", "[::1]:9797"},
		{"server.lan", "9797", "server.lan:9797"},
		{"127.0.0.1:9797", "5", ""},
		{"127.0.0.1", "0", ""},
		{"127.0.0.1", "65536", ""},
		{"127.0.0.1", "hello", ""},
		{"a:b:c", "9797", ""},
	} {
		if got := PortHint(tc.host, tc.port); got != tc.want {
			t.Errorf("PortHint(%q, %q) = %q, want %q", tc.host, tc.port, got, tc.want)
		}
	}
}
