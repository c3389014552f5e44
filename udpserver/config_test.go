package udpserver

import (
	"reflect"
	"testing"
)

// TestDefaultServer: DefaultServer spells out what the zero fields stand
// for, so both resolve to the same configuration, with and without a rate
// limit (its burst and table size).
func TestDefaultServer(t *testing.T) {
	for _, limit := range []float64{0, 10} {
		z, d := &Server{RateLimit: limit}, DefaultServer()
		d.RateLimit = limit
		z.init()
		d.init()
		if !reflect.DeepEqual(z.cfg, d.cfg) {
			t.Errorf("rate %v: zero Server resolves to %+v, DefaultServer to %+v", limit, z.cfg, d.cfg)
		}
		for range DefaultMaxDeferred {
			if z.deferAdd() == nil || d.deferAdd() == nil {
				t.Fatal("fewer deferred replies than DefaultMaxDeferred")
			}
		}
		if z.deferAdd() != nil || d.deferAdd() != nil {
			t.Error("more deferred replies than DefaultMaxDeferred")
		}
		if (z.rates == nil) != (d.rates == nil) || z.rates != nil && (z.rates.burst != d.rates.burst || z.rates.max != d.rates.max || z.rates.perNs != d.rates.perNs) {
			t.Errorf("rate %v: rate tables differ", limit)
		}
	}
}
