package discovery

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

func testKeys(t *testing.T, id uint16) *auth.Keyring {
	t.Helper()
	k, err := auth.GenerateKey(id, auth.RoleCurrent)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := auth.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestSyncAuthenticatedDiscovery: with a key on both ends a browser finds
// the server and a forger answering every query first (without the key,
// or with another key) shows nothing; without the key a browser finds
// nothing, and the keyed server never answers it.
func TestSyncAuthenticatedDiscovery(t *testing.T) {
	cases := []struct {
		name      string
		browserKy bool
		forgerKey int // 0: unauthenticated forgeries; n: sealed with key n
		want      string
	}{
		{"key on both ends, unauthenticated forger", true, 0, "198.18.0.10"},
		{"key on both ends, forger with another key", true, 2, "198.18.0.10"},
		{"browser without the key believes the forger; the server stays silent", false, 0, "198.18.0.66"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				keys := testKeys(t, 1)
				h := newHostileLAN(t)
				h.lan.tap = make(chan fakeSend, 1024)
				a, stop := runFake(t, h.srv, AnnouncerConfig{Port: 9797, Instance: "kitchen", Keys: keys})
				defer stop()
				time.Sleep(time.Second)
				var forger *auth.Sender
				if c.forgerKey != 0 {
					forger, _ = auth.NewSender(testKeys(t, uint16(c.forgerKey)), auth.SenderConfig{})
				}
				actx, acancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				defer func() { acancel(); <-done }()
				go func() {
					defer close(done)
					for {
						select {
						case <-actx.Done():
							return
						case s := <-h.lan.tap:
							if s.from != h.wh || s.h.Type != wire.TypeQuery || !s.src.Addr().Is4() || s.dst.Addr() != wire.DiscoveryGroup4 {
								continue
							}
							b, _ := wire.AppendRecord(nil, wire.TypeAnswer, s.h.ID, hrec("kitchen", 120, "198.18.0.66"))
							if forger != nil {
								b, _ = forger.Sign(b)
							}
							h.lan.inject(h.wh, int(s.src.Port()), netip.MustParseAddrPort("198.18.0.66:9798"), 2, b)
						}
					}
				}()
				cfg := BrowserConfig{}
				if c.browserKy {
					cfg.Keys = keys
				}
				b, err := newBrowser(cfg, h.wh.links, h.wh)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				var got []string
				b.Browse(ctx, "", func(in Instance) {
					got = append(got, in.Addrs[0].Addr().String())
					if in.Conflict {
						t.Errorf("conflict reported: %v", in.Others)
					}
				})
				want := []string{c.want}
				if c.want == "" {
					want = nil
				}
				if len(got) != len(want) || len(got) == 1 && got[0] != want[0] {
					t.Errorf("found %v, want %v", got, want)
				}
				bs, as := b.Stats(), a.Stats()
				if c.browserKy && bs.Unauthenticated == 0 {
					t.Error("no forged answer counted as unauthenticated")
				}
				if !c.browserKy && (as.Answers != 0 || as.Unauthenticated == 0) {
					t.Errorf("keyed server: %d answers to unauthenticated queries, %d refused", as.Answers, as.Unauthenticated)
				}
				// Sealed datagrams on the wire: every answer, announcement and query of the keyed peers.
				for _, s := range h.lan.sends(func(s fakeSend) bool { return s.from == h.srv || c.browserKy && s.from == h.wh }) {
					if s.h.Flags&wire.FlagAuth == 0 || len(s.b) > wire.DefaultMaxDatagram {
						t.Errorf("%v from %s: flags %v, %d bytes", s.h.Type, s.from.name, s.h.Flags, len(s.b))
					}
				}
			})
		})
	}
}

// TestSyncAuthenticatedWatcher: a keyed watcher sees the keyed server; a
// forged goodbye or announcement without the key, and a captured goodbye
// replayed, change nothing.
func TestSyncAuthenticatedWatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		keys := testKeys(t, 1)
		h := newHostileLAN(t)
		w, err := newWatcher(WatcherConfig{Passive: true, Keys: keys}, h.wh.links, h.wh)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		var evs []Event
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { w.Watch(ctx, "", func(e Event) { evs = append(evs, e) }); close(done) }()
		defer func() { cancel(); <-done }()
		synctest.Wait()
		_, stop := runFake(t, h.srv, AnnouncerConfig{Port: 9797, Instance: "kitchen", Keys: keys, TTL: 30 * time.Second})
		time.Sleep(time.Second)
		h.forge(wire.TypeGoodbye, "198.18.0.10:9798", 0, hrec("kitchen", 0, "198.18.0.10"))
		h.forge(wire.TypeAnnounce, "198.18.0.66:9798", 0, hrec("forged", 120, "198.18.0.66"))
		// A captured authenticated announcement of srv, replayed.
		anns := h.lan.sends(byType(h.srv, wire.TypeAnnounce, g4))
		h.lan.inject(h.wh, wire.DiscoveryPort, netip.MustParseAddrPort("198.18.0.10:40000"), 2, anns[0].b)
		time.Sleep(time.Second)
		stop() // the real goodbyes
		synctest.Wait()
		var got []string
		for _, e := range evs {
			got = append(got, e.Kind.String()+" "+e.Instance.Instance)
		}
		if len(got) != 2 || got[0] != "up kitchen" || got[1] != "down kitchen" {
			t.Errorf("events %v, want up and down of kitchen only", got)
		}
		if st := w.Stats(); st.Unauthenticated != 2 || st.Replays == 0 {
			t.Errorf("stats %+v: want 2 unauthenticated, replays counted", st)
		}
	})
}
