package client

import (
	"testing"
	"time"

	"github.com/udpkit/udpkit/client/clienttest"
)

// TestPingRun: ping's loop over a real loopback socket: Count PINGs, each
// answered twice (one duplicate), statistics as ping prints them.
func TestPingRun(t *testing.T) {
	r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{Extra: 1})
	c := dial(t, r.Addr(), Config{})
	var seqs []int
	st, err := c.PingRun(testContext(t), PingRunConfig{Count: 3, Interval: 10 * time.Millisecond, Wait: 5 * time.Second,
		Body: []byte("pad"), OnReply: func(seq int, p Pong) {
			if !p.Dup {
				seqs = append(seqs, seq)
			}
		}})
	if err != nil || st.Transmitted != 3 || st.Received != 3 || st.Errors != 0 || len(st.RTTs) != 3 || st.Loss() != 0 {
		t.Fatalf("PingRun = %+v, %v", st, err)
	}
	if len(seqs) != 3 || seqs[0] != 1 || seqs[2] != 3 {
		t.Errorf("replies to seq %v", seqs)
	}
	if mn, avg, mx, _ := st.RTT(); mn <= 0 || avg < mn || mx < avg {
		t.Errorf("RTT() = %v %v %v", mn, avg, mx)
	}
	if st.Elapsed >= 5*time.Second {
		t.Errorf("did not stop when every PING was answered: %v", st.Elapsed)
	}
}

func TestPingStats(t *testing.T) {
	s := PingStats{Transmitted: 4, Received: 2, RTTs: []time.Duration{1 * time.Millisecond, 3 * time.Millisecond}}
	mn, avg, mx, mdev := s.RTT()
	if s.Loss() != 50 || mn != time.Millisecond || avg != 2*time.Millisecond || mx != 3*time.Millisecond || mdev != time.Millisecond {
		t.Errorf("Loss %v, RTT %v %v %v %v", s.Loss(), mn, avg, mx, mdev)
	}
	if mn, avg, mx, mdev := (PingStats{}).RTT(); mn+avg+mx+mdev != 0 || (PingStats{}).Loss() != 0 {
		t.Error("empty stats not zero")
	}
}

func TestDefaultPingRunConfig(t *testing.T) {
	z, d := PingRunConfig{}.withDefaults(), DefaultPingRunConfig().withDefaults()
	if z.Interval != d.Interval || z.Wait != d.Wait || d.Interval != time.Second || d.Wait != time.Second {
		t.Errorf("zero %+v, default %+v", z, d)
	}
}

func TestPingPadding(t *testing.T) {
	b := PingPadding(300)
	if len(b) != 300 || b[0] != 0 || b[1] != 1 || b[255] != 255 || b[256] != 0 || b[299] != 43 {
		t.Errorf("PingPadding(300) = %v", b)
	}
	if len(PingPadding(0)) != 0 {
		t.Error("PingPadding(0) not empty")
	}
}
