package client

import (
	"reflect"
	"testing"
)

// DefaultConfig spells out exactly what a zero Config stands for.
func TestDefaultConfig(t *testing.T) {
	z, d := Config{}.resolve(), DefaultConfig().resolve()
	z.log, d.log, z.jitter, d.jitter, z.lookup, d.lookup = nil, nil, nil, nil, nil, nil
	if !reflect.DeepEqual(z, d) {
		t.Errorf("zero %+v\ndefault %+v", z, d)
	}
}
