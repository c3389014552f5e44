package udpserver

import (
	"reflect"
	"sync/atomic"
	"testing"
)

// TestTallyAddsEveryCounter proves that a worker's tally has a field for
// every shared counter and that add moves each one (a counter missed in
// add would silently stay at zero in Stats).
func TestTallyAddsEveryCounter(t *testing.T) {
	var c counters
	var tl tally
	tv, cv := reflect.ValueOf(&tl).Elem(), reflect.ValueOf(&c).Elem()
	if tv.NumField() != cv.NumField() {
		t.Fatalf("tally has %d fields, counters %d", tv.NumField(), cv.NumField())
	}
	for i := range tv.NumField() {
		name := tv.Type().Field(i).Name
		if cv.Type().Field(i).Name != name {
			t.Fatalf("field %d: tally.%s, counters.%s", i, name, cv.Type().Field(i).Name)
		}
		tl = tally{}
		*(*count)(tv.Field(i).Addr().UnsafePointer()) = count(i + 1)
		c.add(&tl)
		got := (*atomic.Uint64)(cv.Field(i).Addr().UnsafePointer()).Load()
		if got != uint64(i+1) {
			t.Errorf("%s: counters got %d after add, want %d", name, got, i+1)
		}
		if tl != (tally{}) {
			t.Errorf("%s: tally not zeroed by add", name)
		}
	}
}
