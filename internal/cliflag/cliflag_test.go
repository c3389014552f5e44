package cliflag

import (
	"testing"
	"time"
)

func TestParseSeconds(t *testing.T) {
	for in, want := range map[string]time.Duration{"0.5": 500 * time.Millisecond, "200ms": 200 * time.Millisecond, "2": 2 * time.Second, "1m": time.Minute} {
		if got, err := ParseSeconds(in); err != nil || got != want {
			t.Errorf("ParseSeconds(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "x", "", "-5ms"} {
		if _, err := ParseSeconds(in); err == nil {
			t.Errorf("ParseSeconds(%q) succeeded", in)
		}
	}
}
