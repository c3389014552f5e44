package udpserver

import (
	"context"
	"sync"
	"testing"

	"github.com/udpkit/udpkit/wire"
)

// outcomes adds up the Stats counters that each count one outcome of a
// received datagram; it must equal Received once no datagram is in process.
func outcomes(st Stats) uint64 {
	return st.Handled + st.Duplicates + st.InProgress + st.Pings + st.RateLimited +
		st.Oversized + st.Empty + st.RawDropped + st.Malformed + st.Busy + st.DedupCookies +
		st.Unauthenticated + st.BadTag + st.Replayed + st.Stale + st.AuthSendersFull
}

// TestBusyIsAnOutcome: a DATA refused with NACK busy because the
// de-duplication table has no room is counted in an outcome counter, so
// that the outcomes still add up to Received.
func TestBusyIsAnOutcome(t *testing.T) {
	started, release := make(chan struct{}, 2), make(chan struct{})
	s := &Server{DedupEntries: 2, DedupPerSource: 2, Handler: HandlerFunc(func(ctx context.Context, r *Request) error {
		started <- struct{}{}
		<-release
		return nil
	})}
	var wg sync.WaitGroup
	for id := range uint64(2) {
		wg.Go(func() { send(s, wire.AppendData(nil, id+1, nil), "192.0.2.1:1000") })
	}
	<-started
	<-started
	got := send(s, wire.AppendData(nil, 3, nil), "192.0.2.1:1000")
	close(release)
	wg.Wait()
	if h, _ := parseReply(t, got); h.Type != wire.TypeNack || h.Code != wire.CodeBusy {
		t.Fatalf("third message with a full table: reply %x, want NACK busy", got)
	}
	st := s.Stats()
	if st.Received != 3 || outcomes(st) != st.Received {
		t.Errorf("received %d, outcomes add up to %d: %+v", st.Received, outcomes(st), st)
	}
	if st.Busy != 1 {
		t.Errorf("Busy %d, want 1", st.Busy)
	}
}
