package udpserver

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

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

// FuzzServerProcessKeyed is FuzzServerProcess for a server with keys. The
// fuzzer's datagram is sent as it is, or first sealed with the server's key
// when seal is set and it is a valid unauthenticated message, so that the
// authenticated path gets arbitrary bodies too. The server must never
// panic, never run the handler for a datagram that did not verify, never
// answer longer than the request, and seal every reply.
func FuzzServerProcessKeyed(f *testing.F) {
	f.Add(wire.AppendData(nil, 1, []byte("hello")), true)
	f.Add(wire.Append(nil, hdr(wire.TypePing, 2), []byte("pad")), true)
	f.Add(wire.AppendAck(nil, 3), true)
	f.Add(wire.AppendData(nil, 6, []byte("refuse")), true)
	f.Add(wire.AppendData(nil, 7, []byte("unsealed")), false)
	f.Add(wire.Append(nil, wire.Header{Type: wire.TypeData, Flags: wire.FlagAuth, KeyID: 7, ID: 5}, make([]byte, 60)), false)
	f.Add([]byte("raw text\n"), false)
	f.Add([]byte{}, false)
	keys := testKeys(f, 1)
	sg := sealer(f, keys, 0x1234, time.Now)
	var sealedOK atomic.Bool
	s := &Server{Keys: keys, MaxDatagram: 300, DedupEntries: 64, Handler: HandlerFunc(func(ctx context.Context, r *Request) error {
		if !r.Authenticated || !sealedOK.Load() {
			panic("handler ran for a datagram that was not sealed with the key")
		}
		if len(r.Payload) > 0 && r.Payload[0]&1 == 1 {
			return errors.New("odd first byte: refused with a long explanation that must be cut to fit the request")
		}
		return nil
	})}
	s.init()
	f.Fuzz(func(t *testing.T, b []byte, seal bool) {
		sealedOK.Store(false)
		if h, _, err := wire.Parse(b); seal && err == nil && h.Flags == 0 && h.KeyID == 0 {
			out, err := sg.Sign(bytes.Clone(b))
			if err != nil {
				t.Fatal(err)
			}
			b = out
			sealedOK.Store(true)
		}
		p := newPacketFor(s, b, "192.0.2.1:4000")
		reply := s.process(context.Background(), p, make([]byte, 0, 400))
		if len(reply) > len(b) {
			t.Fatalf("reply of %d bytes to a request of %d", len(reply), len(b))
		}
		if reply != nil {
			if _, _, _, err := keys.Open(reply); err != nil {
				t.Fatalf("reply %x does not verify: %v", reply, err)
			}
		}
	})
}
