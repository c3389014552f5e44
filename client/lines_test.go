package client

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLines(t *testing.T) {
	tests := []struct {
		in, want string // want: the lines joined by "|"
		long     map[int]int
	}{
		{"a\nb\n", "a|b", nil},
		{"a\r\nb", "a|b", nil},
		{"\n\nc", "||c", nil},
		{"", "", nil},
		{"12345678\nok\n", "12345|ok", map[int]int{1: 8}},
		{"x\n" + strings.Repeat("y", 100000) + "\r\nz", "x|yyyyy|z", map[int]int{2: 100000}},
	}
	for _, tt := range tests {
		l := NewLines(strings.NewReader(tt.in), 4)
		var got []string
		for b := range l.All {
			got = append(got, string(b))
		}
		if strings.Join(got, "|") != tt.want || l.Err() != nil {
			t.Errorf("%.20q: lines %q, err %v", tt.in, got, l.Err())
		}
		for n := 1; n <= len(got); n++ {
			size, ok := l.TooLong(n)
			if want, long := tt.long[n]; ok != long || size != want {
				t.Errorf("%.20q: TooLong(%d) = %d, %v", tt.in, n, size, ok)
			}
		}
	}
	l := NewLines(iotest.TimeoutReader(strings.NewReader("a\nb\n")), 4)
	for range l.All {
	}
	if !errors.Is(l.Err(), iotest.ErrTimeout) {
		t.Errorf("read error: %v", l.Err())
	}
	var none *Lines
	for range none.All {
		t.Error("a nil Lines yielded")
	}
	if _, ok := none.TooLong(1); ok || none.Err() != nil {
		t.Error("a nil Lines has state")
	}
}
