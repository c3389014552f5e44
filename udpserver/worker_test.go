package udpserver

import (
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

// TestTallyAddsEveryCounter proves that a worker's tally has a field for
// every shared counter and that add moves each one (a counter missed in
// add would silently stay at zero in Stats): the plain counters, every
// element of the NACK codes, and the handler time histogram.
func TestTallyAddsEveryCounter(t *testing.T) {
	var c counters
	var tl tally
	tv, cv := reflect.ValueOf(&tl).Elem(), reflect.ValueOf(&c).Elem()
	if tv.NumField() != cv.NumField() {
		t.Fatalf("tally has %d fields, counters %d", tv.NumField(), cv.NumField())
	}
	countType := reflect.TypeFor[count]()
	for i := range tv.NumField() {
		name := tv.Type().Field(i).Name
		if cv.Type().Field(i).Name != name {
			t.Fatalf("field %d: tally.%s, counters.%s", i, name, cv.Type().Field(i).Name)
		}
		tl = tally{}
		switch f := tv.Field(i); {
		case f.Type() == countType:
			*(*count)(f.Addr().UnsafePointer()) = count(i + 1)
			c.add(&tl)
			if got := (*atomic.Uint64)(cv.Field(i).Addr().UnsafePointer()).Load(); got != uint64(i+1) {
				t.Errorf("%s: counters got %d after add, want %d", name, got, i+1)
			}
		case name == "nacks":
			for code := range tl.nacks {
				tl.nacks[code] = count(code + 1)
				tl.nacked += count(code + 1) // as tally.nack keeps them
			}
			c.add(&tl)
			for code := range c.nacks {
				if got := c.nacks[code].Load(); got != uint64(code+1) {
					t.Errorf("nacks[%d]: counters got %d after add, want %d", code, got, code+1)
				}
			}
		case name == "handlerTime":
			for _, b := range HistogramBounds {
				tl.handlerTime.observe(int64(b))
			}
			tl.handlerTime.observe(int64(time.Hour))
			c.add(&tl)
			h := c.handlerTime.snapshot()
			if h.Count != uint64(len(HistogramBounds)+1) {
				t.Errorf("handlerTime: %d observations after add, want %d", h.Count, len(HistogramBounds)+1)
			}
			for b, n := range h.Buckets {
				if n != 1 {
					t.Errorf("handlerTime bucket %d: %d after add, want 1", b, n)
				}
			}
		default:
			t.Fatalf("%s: a field of type %v the test does not know", name, f.Type())
		}
		if tl != (tally{}) {
			t.Errorf("%s: tally not zeroed by add", name)
		}
	}
}
