package client

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
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
//
// "short": 3-byte messages, too short to draw a cookie: the first NACK
// rate limited makes the client ask with the placeholder (PROTOCOL.md
// 3.1, "Short messages").
func TestSendCookieUnderFlood(t *testing.T) {
	for _, tc := range []struct {
		name    string
		message func(i int) string
	}{
		{"long", func(i int) string { return "victim message " + strconv.Itoa(i) }},
		{"short", func(i int) string { return fmt.Sprintf("v%02d", i) }},
	} {
		t.Run(tc.name, func(t *testing.T) { testSendCookieUnderFlood(t, tc.message) })
	}
}

func testSendCookieUnderFlood(t *testing.T, message func(int) string) {
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
	const n = 100 // message(i) for i < 100
	slow := 0
	firstCookie := -1 // the message that drew the client's first cookie
	for i := range n {
		res, err := c.Send(testContext(t), []byte(message(i)))
		if err != nil {
			t.Fatalf("message %d: %v (%+v)", i, err, res)
		}
		if firstCookie < 0 && c.Stats().Cookies > 0 {
			firstCookie = i
		}
		// Within the first timeout (1 s): the cookie NACK is answered
		// at once, never waited out. A short first message whose plain
		// copy drew silence (the host's NACK went to the flooder) asks
		// for its cookie on its second copy, after the first timeout
		// (at most 1.5 s with jitter).
		limit := time.Second
		if i == 0 && len(message(i)) < 8 {
			limit = 2500 * time.Millisecond
		}
		if res.Elapsed >= limit {
			// The flood fills the server's queue as well: on a
			// loaded machine one datagram of the victim's may be
			// dropped by the kernel and waited out like any loss.
			slow++
			t.Logf("message %d took %v, %d attempts", i, res.Elapsed, res.Attempts)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if slow > 2 {
		t.Errorf("%d of %d messages waited a timeout out: cookie NACKs are not answered at once", slow, n)
	}
	st, cst := srv.Stats(), c.Stats()
	// Every message after the one that drew the cookie carried it (on a
	// loaded machine the flooder may stall, so the first messages can
	// pass without one); the server's counts may lag its replies by a
	// batch, so ask for most of them.
	if cst.Cookies == 0 || st.CookieValid < uint64(n-1-firstCookie)/2 || st.CookieInvalid != 0 {
		t.Errorf("client got %d cookies (first at message %d); server: %d valid cookies, %d invalid, %d cookies sent", cst.Cookies, firstCookie, st.CookieValid, st.CookieInvalid, st.Cookies)
	}
	got := handled()
	for i := range n {
		if k := got[message(i)]; k != 1 {
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
	if got := c.withCookie(d, 1); !bytes.Equal(got, d) {
		t.Fatalf("no cookie yet: %x", got)
	}
	c.keepCookie(wire.Cookie{1, 2, 3, 4, 5, 6, 7, 8})
	got := c.withCookie(d, 1)
	if want := wire.AppendDataCookie(nil, 7, []byte("hi"), wire.Cookie{1, 2, 3, 4, 5, 6, 7, 8}); !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
	if !bytes.Equal(d, wire.AppendData(nil, 7, []byte("hi"))) {
		t.Error("the message's own datagram was changed")
	}
	ping := wire.Append(nil, wire.Header{Type: wire.TypePing, ID: 1}, nil)
	if got := c.withCookie(ping, 1); !bytes.Equal(got, ping) {
		t.Errorf("PING got a cookie: %x", got)
	}
	big := wire.AppendData(nil, 8, make([]byte, 20)) // 36 + 8 > 40
	if got := c.withCookie(big, 1); !bytes.Equal(got, big) {
		t.Errorf("a cookie past MaxDatagram: %d bytes", len(got))
	}
}

// vector returns datagram name of testdata/vectors.txt.
func vector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			h, _, _ := strings.Cut(rest, "=>")
			d, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(h), " ", ""))
			if err != nil {
				t.Fatalf("vector %s: %v", name, err)
			}
			return d
		}
	}
	t.Fatalf("testdata/vectors.txt has no vector %s", name)
	return nil
}

// TestShortMessageCookie plays the short message's cookie exchange of
// testdata/vectors.txt (short-data, nack-busy, short-placeholder,
// nack-cookie, short-echo, ack) to the client byte for byte, from a
// server played by the test over loopback: a 2-byte message that got NACK
// busy is resent at once with the placeholder cookie, then with the
// cookie it drew, and acknowledged within the first timeout; the next
// short message carries the cookie from its first copy.
func TestShortMessageCookie(t *testing.T) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := dial(t, pc.LocalAddr().String(), Config{InitialTimeout: 2 * time.Second, Retries: 3})
	withID := func(b []byte, id uint64) []byte {
		b = bytes.Clone(b)
		binary.BigEndian.PutUint64(b[8:16], id)
		return b
	}
	buf := make([]byte, 2048)
	// expect reads the client's next datagram, wants vector want (with
	// the client's message ID) and answers vector reply with that ID.
	expect := func(want, reply string) uint64 {
		t.Helper()
		pc.SetReadDeadline(time.Now().Add(time.Second)) // under the first timeout: no waiting out
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		id := binary.BigEndian.Uint64(buf[8:16])
		if w := withID(vector(t, want), id); !bytes.Equal(buf[:n], w) {
			t.Fatalf("got % x, want %s: % x", buf[:n], want, w)
		}
		if _, err := pc.WriteToUDPAddrPort(withID(vector(t, reply), id), from); err != nil {
			t.Fatal(err)
		}
		return id
	}
	body := vector(t, "short-data")[wire.HeaderLen:]
	done := make(chan error, 1)
	var res Result
	go func() {
		var err error
		res, err = c.Send(testContext(t), body)
		done <- err
	}()
	expect("short-data", "nack-busy")
	expect("short-placeholder", "nack-cookie")
	expect("short-echo", "ack")
	if err := <-done; err != nil || res.Attempts != 3 || res.Busy != 1 || res.Elapsed >= 2*time.Second {
		t.Fatalf("Send: %v, %+v", err, res)
	}
	go func() {
		_, err := c.Send(testContext(t), body)
		done <- err
	}()
	expect("short-echo", "ack") // the cookie from the first copy on
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Cookies != 1 {
		t.Errorf("Cookies %d, want 1", st.Cookies)
	}
}
