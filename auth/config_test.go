package auth

import "testing"

// TestDefaultReplayConfig: the spelled-out defaults are what a zero
// ReplayConfig stands for.
func TestDefaultReplayConfig(t *testing.T) {
	z, d := NewReplay(ReplayConfig{}), NewReplay(DefaultReplayConfig())
	if z.skew != d.skew || z.max != d.max || z.notBefore != d.notBefore {
		t.Errorf("zero: skew %d max %d; default: skew %d max %d", z.skew, z.max, d.skew, d.max)
	}
}
