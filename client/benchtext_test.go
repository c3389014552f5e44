package client

import (
	"strings"
	"testing"
	"time"

	"github.com/udpkit/udpkit/wire"
)

func TestBenchText(t *testing.T) {
	r := BenchResult{Kind: wire.TypeData, Elapsed: 2 * time.Second, Sent: 2500, Replies: 2400, Lost: 10, Nacks: 90, RateLimited: 30, BadAuth: 1}
	if got := r.PerSecond(); got != 1200 {
		t.Errorf("PerSecond = %v, want 1200", got)
	}
	if got, want := r.StatusLine(), "2500 sent, 2400 replies, 10 lost, 90 nacks in 2.0 s: 1200 replies/s so far"; got != want {
		t.Errorf("StatusLine = %q, want %q", got, want)
	}
	w := r.Warnings()
	if len(w) != 3 || !strings.HasPrefix(w[0], "the server rate-limited this host (30 NACKs") ||
		!strings.HasPrefix(w[1], "60 requests got a NACK (busy") || !strings.HasPrefix(w[2], "ignored 0 unauthenticated and 1 wrongly") {
		t.Errorf("Warnings = %q", w)
	}
	r.Kind = wire.TypePing // PINGs are never de-duplicated: a NACK is not the table's
	r.RateLimited, r.BadAuth = 90, 0
	if w := r.Warnings(); len(w) != 1 {
		t.Errorf("ping Warnings = %q", w)
	}
	if w := (BenchResult{Kind: wire.TypeData, Replies: 5}).Warnings(); w != nil {
		t.Errorf("clean run: Warnings = %q", w)
	}
	if got := (BenchResult{}).PerSecond(); got != 0 {
		t.Errorf("empty PerSecond = %v", got)
	}
}
