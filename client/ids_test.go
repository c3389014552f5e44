package client

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/udpkit/udpkit/client/clienttest"
)

// TestIDsNeverRepeat: one client, SendAll at the largest window and Send
// calls at the same time, 2 % of the replies lost so that messages are
// retransmitted with their ID: every message has an ID of its own (the
// responder, which de-duplicates as a server does, handles each payload),
// so no server could take one message for another.
func TestIDsNeverRepeat(t *testing.T) {
	r := startResponder(t, "127.0.0.1:0", clienttest.Behavior{DropOut: 0.02, Seed: 13})
	c := dial(t, r.Addr(), Config{Window: MaxWindow + 100, InitialTimeout: 5 * time.Millisecond, MinTimeout: 5 * time.Millisecond})
	const bulk, single = 3000, 100
	var mu sync.Mutex
	ids := map[uint64]string{}
	note := func(id uint64, what string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := ids[id]; ok {
			t.Errorf("ID %#x used by %s and %s", id, prev, what)
		}
		ids[id] = what
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range single {
			res, err := c.Send(testContext(t), fmt.Appendf(nil, "single %d", i))
			if err != nil {
				t.Errorf("Send %d: %v", i, err)
			}
			note(res.ID, fmt.Sprintf("Send %d", i))
		}
	})
	payloads := func(yield func([]byte) bool) {
		for i := range bulk {
			if !yield(fmt.Appendf(nil, "bulk %d", i)) {
				return
			}
		}
	}
	err := c.SendAll(testContext(t), payloads, func(i int, res Result, err error) {
		if err != nil {
			t.Errorf("SendAll %d: %v", i, err)
		}
		note(res.ID, fmt.Sprintf("SendAll %d", i))
	})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != bulk+single {
		t.Errorf("%d distinct IDs for %d messages", len(ids), bulk+single)
	}
	handled := map[string]bool{}
	for _, p := range r.Handled() {
		handled[string(p)] = true
	}
	if len(handled) != bulk+single {
		t.Errorf("responder handled %d distinct payloads, want %d", len(handled), bulk+single)
	}
	if st := c.Stats(); st.Retransmitted == 0 {
		t.Errorf("no retransmissions: the test lost no replies")
	}
	sorted := slices.Sorted(func(yield func(uint64) bool) {
		for id := range ids {
			if !yield(id) {
				return
			}
		}
	})
	if sorted[len(sorted)-1]-sorted[0] != bulk+single-1 {
		t.Errorf("IDs span %d..%d: not consecutive from one start", sorted[0], sorted[len(sorted)-1])
	}
}
