package main

import (
	"runtime/debug"
	"testing"

	"github.com/udpkit/udpkit/udpserver"
)

func TestSetMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })

	t.Setenv("GOMEMLIMIT", "")
	want := int64(1000*udpserver.DedupBytesPerEntry + memoryHeadroom)
	if got := setMemoryLimit(1000); got != want || debug.SetMemoryLimit(-1) != want {
		t.Errorf("limit %d (runtime %d), want %d", got, debug.SetMemoryLimit(-1), want)
	}
	want = int64(udpserver.DefaultDedupEntries*udpserver.DedupBytesPerEntry + memoryHeadroom)
	if got := setMemoryLimit(0); got != want {
		t.Errorf("default limit %d, want %d", got, want)
	}

	// The user's $GOMEMLIMIT wins: the runtime's limit is left as it is.
	debug.SetMemoryLimit(123 << 20)
	t.Setenv("GOMEMLIMIT", "123MiB")
	if got := setMemoryLimit(1000); got != 123<<20 || debug.SetMemoryLimit(-1) != 123<<20 {
		t.Errorf("with $GOMEMLIMIT: %d, want it untouched", got)
	}
}
