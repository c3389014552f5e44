package mdns

import (
	"reflect"
	"testing"
)

// TestDefaultResponderConfig: the spelled-out defaults are what the zero
// fields stand for.
func TestDefaultResponderConfig(t *testing.T) {
	if z, d := (ResponderConfig{}).withDefaults(), DefaultResponderConfig().withDefaults(); !reflect.DeepEqual(z, d) {
		t.Errorf("zero %+v, default %+v", z, d)
	}
}
