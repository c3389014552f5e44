package udpserver

import "testing"

// The rate limiter's burst follows the rate unless given (issue 8's review
// bug: --rate-limit 10/s admitted a fixed 2000 at once).
func TestRateBurstDefault(t *testing.T) {
	for _, tc := range []struct {
		rate  float64
		burst int
		want  float64
	}{
		{10, 0, 2},     // a fifth of a second's worth
		{1000, 0, 200}, // the same
		{3, 0, 1},      // at least one
		{10, 50, 50},   // given
		{20000, 0, 4000},
	} {
		s := &Server{RateLimit: tc.rate, RateBurst: tc.burst}
		s.init()
		if s.rates == nil || s.rates.burst != tc.want {
			t.Errorf("RateLimit %v RateBurst %d: burst %v, want %v", tc.rate, tc.burst, s.rates.burst, tc.want)
		}
	}
}
