package udpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/udpkit/udpkit/wire"
)

func hdr(t wire.Type, id uint64) wire.Header { return wire.Header{Type: t, ID: id} }

func TestProcess(t *testing.T) {
	refuse := HandlerFunc(func(ctx context.Context, r *Request) error {
		switch strings.TrimRight(string(r.Payload), ".") {
		case "refuse":
			return errors.New("not today")
		case "long":
			return errors.New(strings.Repeat("é", 100)) // 200 bytes, cut on a rune boundary
		case "busy":
			return fmt.Errorf("queue: %w", &RejectError{Code: wire.CodeBusy, Reason: "queue full"})
		case "panic":
			panic("boom")
		}
		return nil
	})
	big := make([]byte, wire.DefaultMaxDatagram+1)
	tests := []struct {
		name       string
		disableRaw bool
		in         []byte
		want       []byte // nil: no reply
		stat       func(Stats) uint64
	}{
		{"data acked", false, wire.AppendData(nil, 7, []byte("hi")), wire.AppendAck(nil, 7), func(s Stats) uint64 { return s.Acked }},
		{"data empty body", false, wire.AppendData(nil, 8, nil), wire.AppendAck(nil, 8), func(s Stats) uint64 { return s.Acked }},
		{"handler error", false, wire.AppendData(nil, 9, []byte("refuse")), wire.AppendNack(nil, 9, wire.CodeRejected, "", 22), func(s Stats) uint64 { return s.Rejected }},
		{"nack text that does not fit: code alone", false, wire.AppendData(nil, 9, []byte("long")), wire.AppendNack(nil, 9, wire.CodeRejected, "", 20), func(s Stats) uint64 { return s.Nacked }},
		{"reject error wrapped", false, append(wire.AppendData(nil, 10, []byte("busy")), ".........."...), wire.AppendNack(nil, 10, wire.CodeBusy, "queue full", 100), func(s Stats) uint64 { return s.Nacked }},
		{"handler panic", false, append(wire.AppendData(nil, 11, []byte("panic")), "....................."...), wire.AppendNack(nil, 11, wire.CodeRejected, "internal error", 100), func(s Stats) uint64 { return s.Panics }},
		{"ping", false, wire.Append(nil, hdr(wire.TypePing, 12), []byte("pad pad pad")), wire.Append(nil, hdr(wire.TypePong, 12), []byte("pad pad pad")), func(s Stats) uint64 { return s.Pings }},
		{"ping empty", false, wire.Append(nil, hdr(wire.TypePing, 13), nil), wire.Append(nil, hdr(wire.TypePong, 13), nil), func(s Stats) uint64 { return s.Pings }},
		{"raw", false, []byte("hello\n"), []byte("ack\n"), func(s Stats) uint64 { return s.Raw }},
		{"raw short", false, []byte("hi"), []byte("ac"), func(s Stats) uint64 { return s.Acked }},
		{"raw one byte", false, []byte("x"), []byte("a"), func(s Stats) uint64 { return s.Acked }},
		{"raw refused is silent", false, []byte("refuse"), nil, func(s Stats) uint64 { return s.Rejected }},
		{"raw disabled", true, []byte("hello\n"), nil, func(s Stats) uint64 { return s.RawDropped }},
		{"empty", false, []byte{}, nil, func(s Stats) uint64 { return s.Empty }},
		{"empty raw disabled", true, []byte{}, nil, func(s Stats) uint64 { return s.Empty }},
		{"lone magic byte", false, []byte{wire.Magic0}, nil, func(s Stats) uint64 { return s.MalformedShort }},
		{"short header", false, wire.AppendData(nil, 1, nil)[:15], nil, func(s Stats) uint64 { return s.MalformedShort }},
		{"magic only", false, []byte{wire.Magic0, wire.Magic1}, nil, func(s Stats) uint64 { return s.MalformedShort }},
		{"bad version", false, func() []byte { b := wire.AppendData(nil, 1, nil); b[2] = 2; return b }(), nil, func(s Stats) uint64 { return s.MalformedVersion }},
		{"unknown type", false, func() []byte { b := wire.AppendData(nil, 1, nil); b[3] = 0x7f; return b }(), nil, func(s Stats) uint64 { return s.MalformedType }},
		{"unknown flag", false, func() []byte { b := wire.AppendData(nil, 1, nil); b[4] = 0x80; return b }(), nil, func(s Stats) uint64 { return s.MalformedFlags }},
		{"auth without keys", false, wire.Append(nil, wire.Header{Type: wire.TypeData, Flags: wire.FlagAuth, KeyID: 1, ID: 1}, make([]byte, 16)), nil, func(s Stats) uint64 { return s.AuthUnsupported }},
		{"key id without auth", false, wire.Append(nil, wire.Header{Type: wire.TypeData, KeyID: 1, ID: 1}, nil), nil, func(s Stats) uint64 { return s.MalformedField }},
		{"code on data", false, wire.Append(nil, wire.Header{Type: wire.TypeData, Code: 1, ID: 1}, nil), nil, func(s Stats) uint64 { return s.MalformedField }},
		{"ack at server", false, wire.AppendAck(nil, 1), nil, func(s Stats) uint64 { return s.Unexpected }},
		{"nack at server", false, wire.AppendNack(nil, 1, wire.CodeBusy, "x", 100), nil, func(s Stats) uint64 { return s.Unexpected }},
		{"pong at server", false, wire.Append(nil, hdr(wire.TypePong, 1), nil), nil, func(s Stats) uint64 { return s.Unexpected }},
		{"query at server", false, wire.Append(nil, hdr(wire.TypeQuery, 1), nil), nil, func(s Stats) uint64 { return s.Unexpected }},
		{"oversized data", false, wire.AppendData(nil, 14, big), wire.AppendNack(nil, 14, wire.CodeTooLarge, "", 16), func(s Stats) uint64 { return s.Oversized }},
		{"oversized ping", false, wire.Append(nil, hdr(wire.TypePing, 15), big), nil, func(s Stats) uint64 { return s.Oversized }},
		{"oversized raw", false, big, nil, func(s Stats) uint64 { return s.Oversized }},
		{"largest data", false, wire.AppendData(nil, 16, big[:wire.DefaultMaxDatagram-16]), wire.AppendAck(nil, 16), func(s Stats) uint64 { return s.Acked }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{Handler: refuse, DisableRaw: tt.disableRaw}
			p := newPacketFor(s, tt.in, "192.0.2.1:4000")
			got := s.process(bg, p, make([]byte, 0, 2000))
			if !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("reply\n got  %q\n want %q", got, tt.want)
			}
			if len(got) > len(tt.in) {
				t.Errorf("reply of %d bytes to a request of %d: amplification", len(got), len(tt.in))
			}
			st := s.Stats()
			if tt.stat(st) != 1 {
				t.Errorf("counter not 1: %+v", st)
			}
			if st.Received != 1 {
				t.Errorf("Received = %d, want 1", st.Received)
			}
			answered := st.Acked + st.Nacked + st.Pings
			if (answered == 1) != (tt.want != nil) || answered > 1 {
				t.Errorf("answered %d, dropped %d: %+v", answered, st.Dropped, st)
			}
		})
	}
}

// TestProcessRequest checks what the handler sees.
func TestProcessRequest(t *testing.T) {
	var got Request
	var payload string
	s := &Server{Handler: HandlerFunc(func(ctx context.Context, r *Request) error {
		got, payload = *r, string(r.Payload)
		return nil
	})}
	p := newPacketFor(s, wire.AppendData(nil, 42, []byte("body")), "[::ffff:192.0.2.1]:4000")
	s.process(bg, p, nil)
	if got.ID != 42 || got.Raw || payload != "body" || got.Remote.String() != "192.0.2.1:4000" || got.Local.String() != "127.0.0.1:9797" {
		t.Errorf("request = %+v, payload %q", got, payload)
	}
	p = newPacketFor(s, []byte("text"), "192.0.2.1:4000")
	s.process(bg, p, nil)
	if got.ID != 0 || !got.Raw || payload != "text" {
		t.Errorf("raw request = %+v, payload %q", got, payload)
	}
	if p.req.Payload != nil {
		t.Errorf("request kept its payload after the handler returned")
	}
}
