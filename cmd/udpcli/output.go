package main

// The output helpers the command files share: numbers, durations and
// untrusted text as udpcli prints them.

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/udpkit/udpkit/wire"
)

// fmtMs formats a duration in milliseconds with ping's precision: three
// decimals below 1 ms, two below 10, one below 100, none above.
func fmtMs(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 1:
		return strconv.FormatFloat(ms, 'f', 3, 64)
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64)
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	}
	return strconv.FormatFloat(ms, 'f', 0, 64)
}

// msNumber is a duration in milliseconds for JSON, rounded to microseconds.
func msNumber(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}

// plural returns "1 attempt" or "n attempts".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// noneIfZero is a flag's value for a configuration field: 0 on the
// command line means none (no retries, no wait, no limit), which the
// packages spell -1, their 0 standing for the default.
func noneIfZero[T int | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// ttlString is a received TTL, "?" when the socket did not say (-1).
func ttlString(ttl int) string {
	if ttl < 0 {
		return "?"
	}
	return strconv.Itoa(ttl)
}

// orDash is s, or "-" for an empty column.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// pct formats a percentage with at most one decimal: "0%", "19.5%".
func pct(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + "%"
}

// msString formats a duration in milliseconds with 3 decimals, as omping.
func msString(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64)
}

// printable returns b as text when it is printable UTF-8, cut to 200
// bytes at a character boundary, else "".
func printable(b []byte) string {
	// One byte past the cut is enough for TruncateUTF8 to see whether the
	// cut splits a character, without copying a large datagram.
	s := wire.TruncateUTF8(string(b[:min(len(b), 201)]), 200)
	s = strings.TrimRight(s, "\r\n")
	for _, r := range s {
		if r == '\uFFFD' || r < 0x20 && r != '\t' {
			return ""
		}
	}
	return s
}

// object is a JSON object written in the order of its key, value pairs:
// each --json line is spelled once, field beside value, instead of a
// struct with tags and a function that fills it. A value wrapped in omit
// is left out when it is the zero value or an empty list, as omitempty.
type object []any

// omitted marks a pair that omit leaves out.
type omitted struct{}

// omit is v, or the mark that leaves its pair out when v is empty.
func omit(v any) any {
	r := reflect.ValueOf(v)
	if !r.IsValid() || r.IsZero() || (r.Kind() == reflect.Slice || r.Kind() == reflect.Map) && r.Len() == 0 {
		return omitted{}
	}
	return v
}

// MarshalJSON writes o's pairs in order.
func (o object) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i := 0; i+1 < len(o); i += 2 {
		if _, skip := o[i+1].(omitted); skip {
			continue
		}
		v, err := json.Marshal(o[i+1])
		if err != nil {
			return nil, err
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(strconv.AppendQuote(b, o[i].(string)), ':')
		b = append(b, v...)
	}
	return append(b, '}'), nil
}
