package jetstream

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/client"
	"github.com/udpkit/udpkit/internal/natstest"
	"github.com/udpkit/udpkit/internal/netlab"
	"github.com/udpkit/udpkit/udpserver"
)

// 1000 messages cross a LAN that loses 30% of the frames each way (nft in
// the lab's bridge namespace): the udpserver's socket lives in one host
// namespace, the client's in another, and the server publishes to a real
// JetStream on 127.0.0.1 outside the lab. Every message ends up acknowledged
// and in the stream exactly once, each acknowledged only after it was stored.
func TestForwardUnderLoss(t *testing.T) {
	if err := netlab.Available(); err != nil {
		t.Skip("the loss test needs a namespace LAN:", err)
	}
	lab, err := netlab.New(t.Context(), netlab.Config{Hosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	srvHost, cliHost := lab.Host(0), lab.Host(1)

	node := natstest.Start(t)
	nc := connect(t, node.URL())
	js := addStream(t, nc, "UDPKIT", 1)
	var pc net.PacketConn
	if err := srvHost.Do(func() (err error) {
		pc, err = udpserver.Listen(t.Context(), netip.AddrPortFrom(srvHost.IPv4, 9797).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	st := startStack(t, nc, Config{Instance: srvHost.Name}, pc)

	var c *client.Client
	if err := cliHost.Do(func() (err error) {
		// 24 retries: at 30 % loss each way an exchange succeeds with
		// p = 0.49, so 16 tries all fail with 0.51^16 = 2e-5 and one of
		// 1000 messages did in about 2 % of runs; 25 tries: 5e-8.
		c, err = client.Dial(t.Context(), st.addr.String(), client.Config{Window: 16, Retries: 24})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Resolve ARP before the loss starts (netlab.SetLoss).
	if _, err := c.Send(t.Context(), []byte("warm-up")); err != nil {
		t.Fatal(err)
	}
	if err := lab.SetLoss(30); err != nil {
		t.Fatal(err)
	}
	want := payloads(1000)
	log := newAckLog()
	start := time.Now()
	// 64 messages in flight, each retransmitted on its own timer (Send):
	// SendAll's congestion window would keep one or two in flight at this
	// loss, and the run would take minutes.
	sendConcurrently(t, c, want, log, 64)
	lab.SetLoss(0)
	msgs := readStream(t, js, "UDPKIT")
	if len(msgs) > 0 && msgs[0].data == "warm-up" {
		msgs = msgs[1:]
	}
	log.check(t, msgs, want, true)
	cs, ss := c.Stats(), st.srv.Stats()
	t.Logf("%v; client sent %d (%d retransmissions); server handled %d, answered %d from memory, dropped %d while running; forwarder %+v",
		time.Since(start).Round(time.Millisecond), cs.Sent, cs.Retransmitted, ss.Handled, ss.Duplicates, ss.InProgress, st.fwd.Stats())
	if ss.Duplicates == 0 {
		t.Error("no retransmission was answered from the de-duplication table: was there loss?")
	}
}

// sendConcurrently sends the payloads with n goroutines calling c.Send.
func sendConcurrently(t testing.TB, c *client.Client, ps []string, log *ackLog, n int) {
	next := make(chan string)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for p := range next {
				r, err := c.Send(t.Context(), []byte(p))
				log.record(p, r, err)
			}
		})
	}
	for _, p := range ps {
		next <- p
	}
	close(next)
	wg.Wait()
}
