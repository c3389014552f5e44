package jetstream

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	njs "github.com/nats-io/nats.go/jetstream"
)

var fastFWD = []byte(`{"stream":"FWD",`)

// TestParsePubAck: the PubAcks of nats-server 2.9 (spaces) and 2.10+ (none),
// plain and duplicate, take the fast path; domains, errors and anything
// unusual are decoded; what is not a PubAck from the stream is an error.
func TestParsePubAck(t *testing.T) {
	for _, tc := range []struct {
		in        string
		fast      bool // plainPubAck recognises it
		duplicate bool
		err       string // in the error; "" for none
	}{
		{in: `{"stream":"FWD","seq":1}`, fast: true},
		{in: `{"stream":"FWD", "seq":9999999999999999999}`, fast: true}, // 2.9; 19 digits: the fast path's most
		{in: `{"stream":"FWD","seq":18446744073709551615}`},             // 20 digits: decoded
		{in: `{"stream":"FWD","seq":7,"duplicate":true}`, fast: true, duplicate: true},
		{in: `{"stream":"FWD", "seq":7,"duplicate": true}`, fast: true, duplicate: true}, // 2.9
		{in: `{"stream":"FWD","domain":"hub","seq":3}`},
		{in: `{"stream":"FWD","domain":"hub","seq":3,"duplicate":true}`, duplicate: true},
		{in: `{"stream":"FWD","seq":3,"duplicate":false}`},
		{in: ` {"stream":"FWD","seq":3} `},
		{in: `{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"FWD","seq":0}`, err: "maximum messages exceeded"},
		{in: `{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"}}`, err: "expected stream does not match"},
		{in: `{"stream":"OTHER","seq":3}`, err: `stream "OTHER"`},
		{in: `{"stream":"FWD","seq":0}`, err: "without a sequence number"},
		{in: `{"stream":"FWD","seq":01}`, err: "malformed"},
		{in: `{"stream":"FWD","seq":1}x`, err: "malformed"},
		{in: `{"stream":"FWD","seq":1,"duplicate":true}}`, err: "malformed"},
		{in: `{"stream":"FWD","seq":-1}`, err: "malformed"},
		{in: `{"stream":"FWD","seq":18446744073709551616}`, err: "malformed"},
		{in: `{"stream":"FWD"`, err: "malformed"},
		{in: `not json`, err: "malformed"},
		{in: `{}`, err: `stream ""`},
	} {
		_, fast := plainPubAck([]byte(tc.in), fastFWD)
		if fast != tc.fast {
			t.Errorf("%s: fast path %v, want %v", tc.in, fast, tc.fast)
		}
		dup, err := parsePubAck([]byte(tc.in), fastFWD, "FWD")
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want one with %q", tc.in, err, tc.err)
		case err == nil && dup != tc.duplicate:
			t.Errorf("%s: duplicate %v, want %v", tc.in, dup, tc.duplicate)
		}
	}
	var apiErr *njs.APIError
	if _, err := parsePubAck([]byte(`{"error":{"code":503,"err_code":10077,"description":"x"}}`), fastFWD, "FWD"); !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 {
		t.Errorf("error %v is not the stream's APIError", err)
	}
}

// FuzzPubAck: no input panics, and whatever the fast path accepts, the
// JSON decoder reads the same way (a PubAck from the stream, the same
// duplicate flag).
func FuzzPubAck(f *testing.F) {
	for _, s := range []string{`{"stream":"FWD","seq":1}`, `{"stream":"FWD", "seq":7,"duplicate": true}`,
		`{"stream":"FWD","domain":"d","seq":3}`, `{"error":{"code":503}}`, `{"stream":"FWD","seq":1,"duplicate":true} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		dup, err := parsePubAck(d, fastFWD, "FWD")
		fdup, fast := plainPubAck(d, fastFWD)
		if !fast {
			return
		}
		if err != nil || dup != fdup {
			t.Fatalf("%q: fast path says stored (duplicate %v), parsePubAck %v, %v", d, fdup, dup, err)
		}
		var pa struct {
			Stream    string `json:"stream"`
			Seq       uint64 `json:"seq"`
			Duplicate bool   `json:"duplicate"`
		}
		if err := json.Unmarshal(d, &pa); err != nil || pa.Stream != "FWD" || pa.Seq == 0 || pa.Duplicate != fdup {
			t.Fatalf("%q: fast path says stored (duplicate %v), encoding/json %+v, %v", d, fdup, pa, err)
		}
	})
}
