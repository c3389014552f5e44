package client

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"
)

// A flooder on another port of the client's host empties the host's rate
// limit at a real udpserver; the client gets a cookie, echoes it in every
// DATA after, and is served from its proved host's own bucket: every
// message is acknowledged and handled once, without waiting a timeout
// for the one that drew the cookie.
func TestSendCookieUnderFlood(t *testing.T) {
	srv := &udpserver.Server{RateLimit: 2000, RateBurst: 100}
	addr, handled := startServer(t, srv)
	flood, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		b := wire.AppendData(nil, 1, []byte("flooding the shared bucket"))
		for id := uint64(1); ; {
			for range 200 { // 20000 a second: ten times the host's limit
				id++
				b[15] = byte(id)
				flood.Write(b)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	for srv.Stats().RateLimited == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	c := dial(t, addr, Config{InitialTimeout: time.Second, Retries: 3})
	const n = 100
	for i := range n {
		res, err := c.Send(testContext(t), []byte("victim message "+strconv.Itoa(i)))
		if err != nil {
			t.Fatalf("message %d: %v (%+v)", i, err, res)
		}
		// Within the first timeout (1 s): the cookie NACK is answered
		// at once, never waited out.
		if res.Elapsed >= time.Second {
			t.Errorf("message %d took %v, %d attempts", i, res.Elapsed, res.Attempts)
		}
		time.Sleep(2 * time.Millisecond)
	}
	st, cst := srv.Stats(), c.Stats()
	// Every message after the first carried the cookie; the server's
	// counts may lag its replies by a batch, so ask for most of them.
	if cst.Cookies == 0 || st.CookieValid < n/2 || st.CookieInvalid != 0 {
		t.Errorf("client got %d cookies; server: %d valid cookies, %d invalid, %d cookies sent", cst.Cookies, st.CookieValid, st.CookieInvalid, st.Cookies)
	}
	got := handled()
	for i := range n {
		if k := got["victim message "+strconv.Itoa(i)]; k != 1 {
			t.Errorf("message %d handled %d times", i, k)
		}
	}
	t.Logf("client: %+v; server: %d rate limited, %d cookies sent, %d valid", cst, st.RateLimited, st.Cookies, st.CookieValid)
}

// withCookie appends the cookie to DATA only, as a copy, and never past
// the size limit.
func TestWithCookie(t *testing.T) {
	c := &Client{cfg: Config{MaxDatagram: 40}.resolve()}
	d := wire.AppendData(nil, 7, []byte("hi"))
	if got := c.withCookie(d); !bytes.Equal(got, d) {
		t.Fatalf("no cookie yet: %x", got)
	}
	c.keepCookie(wire.Cookie{1, 2, 3, 4, 5, 6, 7, 8})
	got := c.withCookie(d)
	if want := wire.AppendDataCookie(nil, 7, []byte("hi"), wire.Cookie{1, 2, 3, 4, 5, 6, 7, 8}); !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
	if !bytes.Equal(d, wire.AppendData(nil, 7, []byte("hi"))) {
		t.Error("the message's own datagram was changed")
	}
	ping := wire.Append(nil, wire.Header{Type: wire.TypePing, ID: 1}, nil)
	if got := c.withCookie(ping); !bytes.Equal(got, ping) {
		t.Errorf("PING got a cookie: %x", got)
	}
	big := wire.AppendData(nil, 8, make([]byte, 20)) // 36 + 8 > 40
	if got := c.withCookie(big); !bytes.Equal(got, big) {
		t.Errorf("a cookie past MaxDatagram: %d bytes", len(got))
	}
}
