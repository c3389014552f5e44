package udpserver

import (
	"context"
	"errors"
	"testing"

	"github.com/udpkit/udpkit/wire"
)

// FuzzServerProcess feeds arbitrary datagrams to process: it must never
// panic, and a reply to an unauthenticated request is never longer than
// the request (no amplification).
func FuzzServerProcess(f *testing.F) {
	f.Add(wire.AppendData(nil, 1, []byte("hello")))
	f.Add(wire.Append(nil, hdr(wire.TypePing, 2), []byte("pad")))
	f.Add(wire.AppendAck(nil, 3))
	f.Add(wire.AppendNack(nil, 4, wire.CodeBusy, "busy", 100))
	f.Add(wire.Append(nil, wire.Header{Type: wire.TypeData, Flags: wire.FlagAuth, KeyID: 1, ID: 5}, make([]byte, 20)))
	f.Add([]byte("raw text\n"))
	f.Add([]byte{})
	f.Add([]byte{wire.Magic0})
	f.Add(wire.AppendData(nil, 6, []byte("refuse")))
	s := &Server{MaxDatagram: 200, DedupEntries: 64, Handler: HandlerFunc(func(ctx context.Context, r *Request) error {
		if len(r.Payload) > 0 && r.Payload[0]&1 == 1 {
			return errors.New("odd first byte: refused with a long explanation that must be cut to fit the request")
		}
		return nil
	})}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := newPacketFor(s, b, "192.0.2.1:4000")
		reply := s.process(context.Background(), p, make([]byte, 0, 300))
		if len(reply) > len(b) {
			t.Fatalf("reply of %d bytes to a request of %d", len(reply), len(b))
		}
		if reply != nil && wire.IsMessage(b) {
			if _, _, err := wire.Parse(reply); err != nil {
				t.Fatalf("malformed reply %x: %v", reply, err)
			}
		}
	})
}
