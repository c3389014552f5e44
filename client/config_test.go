package client

import (
	"reflect"
	"testing"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

// DefaultConfig spells out exactly what a zero Config stands for.
func TestDefaultConfig(t *testing.T) {
	z, d := Config{}.resolve(), DefaultConfig().resolve()
	z.log, d.log, z.jitter, d.jitter, z.lookup, d.lookup = nil, nil, nil, nil, nil, nil
	if !reflect.DeepEqual(z, d) {
		t.Errorf("zero %+v\ndefault %+v", z, d)
	}
}

func TestMaxPayload(t *testing.T) {
	keys, err := auth.NewKeyringID(1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cfg  Config
		want int
	}{
		{Config{}, wire.DefaultMaxDatagram - wire.HeaderLen},
		{Config{Keys: keys}, wire.DefaultMaxDatagram - wire.HeaderLen - wire.AuthTrailerLen},
		{Config{MaxDatagram: 9000}, 9000 - wire.HeaderLen},
		{Config{MaxDatagram: 1 << 20}, wire.MaxDatagram - wire.HeaderLen}, // capped
	}
	for _, tt := range tests {
		if got := tt.cfg.MaxPayload(); got != tt.want {
			t.Errorf("%+v: MaxPayload = %d, want %d", tt.cfg, got, tt.want)
		}
	}
	// The limit is the one Send enforces.
	cfg := Config{Keys: keys}
	c := &Client{cfg: cfg.resolve(), auth: newAuthState(keys)}
	if err := c.checkSize("payload", cfg.MaxPayload()); err != nil {
		t.Errorf("MaxPayload bytes: %v", err)
	}
	if err := c.checkSize("payload", cfg.MaxPayload()+1); err == nil {
		t.Error("MaxPayload+1 bytes: no ErrTooLarge")
	}
}

// A long InitialTimeout raises the default cap instead of being cut to it;
// an explicit MaxTimeout still caps it.
func TestMaxTimeoutFollowsInitial(t *testing.T) {
	tests := []struct {
		cfg              Config
		initial, maxWant time.Duration
	}{
		{Config{}, DefaultInitialTimeout, DefaultMaxTimeout},
		{Config{InitialTimeout: time.Second}, time.Second, DefaultMaxTimeout},
		{Config{InitialTimeout: 10 * time.Second}, 10 * time.Second, 10 * time.Second},
		{Config{InitialTimeout: 10 * time.Second, MaxTimeout: 2 * time.Second}, 2 * time.Second, 2 * time.Second},
		{Config{InitialTimeout: 10 * time.Minute}, ExchangeLifetime, ExchangeLifetime},
	}
	for _, tt := range tests {
		c := tt.cfg.resolve()
		if c.initial != tt.initial || c.max != tt.maxWant {
			t.Errorf("%+v: initial %v, max %v; want %v, %v", tt.cfg, c.initial, c.max, tt.initial, tt.maxWant)
		}
	}
}
