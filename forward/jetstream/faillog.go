package jetstream

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/udpkit/udpkit/udpserver"
	"github.com/udpkit/udpkit/wire"
)

// notStored is every refusal of the forwarder: NACK busy with
// wire.ReasonNotStored, so that the device's user learns that storage, not
// the server's exactly-once shares, refused it. The cause goes to the log.
var notStored = udpserver.Reject(wire.CodeBusy, wire.ReasonNotStored)

// Causes of a publish without a PubAck, before the stream saw it.
var (
	errClosed  = errors.New("forwarder closed")
	errTooMany = errors.New("too many messages waiting for the stream (Config.MaxPending)")
)

// cause is why a message was not stored, as the log counts it.
type cause int

const (
	causeTimeout      cause = iota // no PubAck within Config.Timeout
	causeStreamFull                // the stream refused it: limits reached, no space
	causeNoResponders              // nobody answered: no stream, JetStream down
	causeRefused                   // the connection refused the publish (closed, reconnect buffer full)
	causePending                   // Config.MaxPending publishes in flight
	causeClosed                    // the forwarder was closing
	causeOther                     // another error in the PubAck
	nCauses
)

var causeNames = [nCauses]string{"timeout", "stream_full", "no_responders", "refused", "too_many_pending", "closed", "other"}

// causeOf classifies the error of a PubAck.
func causeOf(err error) cause {
	if errors.Is(err, nats.ErrNoResponders) {
		return causeNoResponders
	}
	if ae, ok := errors.AsType[*njs.APIError](err); ok {
		d := strings.ToLower(ae.Description)
		// nats-server: JSStreamStoreFailedF ("maximum messages exceeded",
		// "maximum bytes exceeded", ...) and JSInsufficientResourcesErr.
		if strings.Contains(d, "exceeded") || strings.Contains(d, "insufficient resources") || ae.ErrorCode == 10047 {
			return causeStreamFull
		}
	}
	return causeOther
}

// failLog logs failed publishes at info level without flooding: the first
// at once, then at most one line per every, with the counts by cause since
// the previous line. A broker outage at 50 000 messages/s is a line per
// 10 s, not a line per message.
type failLog struct {
	log   *slog.Logger
	every time.Duration

	mu      sync.Mutex
	counts  [nCauses]uint64
	n       uint64 // sum of counts
	lastErr error
	last    time.Time // when the previous line was written
	logged  bool
}

// add counts one failure and logs when a line is due.
func (l *failLog) add(c cause, err error) {
	l.mu.Lock()
	l.counts[c]++
	l.n++
	l.lastErr = err
	var attrs []any
	if !l.logged || time.Since(l.last) >= l.every {
		attrs = l.take()
	}
	l.mu.Unlock()
	if attrs != nil {
		l.log.Info("jetstream forwarder: messages not stored (NACK busy to the devices)", attrs...)
	}
}

// flush logs the counts not logged yet, when a line is due or force.
func (l *failLog) flush(force bool) {
	l.mu.Lock()
	var attrs []any
	if l.n > 0 && (force || time.Since(l.last) >= l.every) {
		attrs = l.take()
	}
	l.mu.Unlock()
	if attrs != nil {
		l.log.Info("jetstream forwarder: messages not stored (NACK busy to the devices)", attrs...)
	}
}

// take returns the attributes of a line and starts counting anew. l.mu is
// held.
func (l *failLog) take() []any {
	now := time.Now()
	attrs := []any{"not_stored", l.n}
	for c, k := range l.counts {
		if k > 0 {
			attrs = append(attrs, causeNames[c], k)
		}
	}
	attrs = append(attrs, "last_err", l.lastErr.Error())
	if l.logged {
		attrs = append(attrs, "since_last_line", now.Sub(l.last).Round(time.Millisecond))
	}
	l.counts, l.n, l.lastErr = [nCauses]uint64{}, 0, nil
	l.last, l.logged = now, true
	return attrs
}

// watch logs the NATS connection lost and back, until shutdown removes the
// listener.
func (f *Forwarder) watch() {
	defer close(f.watched)
	var down time.Time
	var failedBefore uint64
	// The address of the server last connected to: once the connection
	// is lost, ConnectedAddr is empty.
	last := f.nc.ConnectedAddr()
	for st := range f.status {
		switch st {
		case nats.DISCONNECTED, nats.RECONNECTING:
			if !down.IsZero() {
				continue // one line per outage
			}
			down, failedBefore = time.Now(), f.failed.Load()
			if a := f.nc.ConnectedAddr(); a != "" {
				last = a
			}
			attrs := []any{"server", last}
			if err := f.nc.LastError(); err != nil {
				attrs = append(attrs, "err", err.Error())
			}
			f.log.Info("jetstream forwarder: NATS connection lost; messages get NACK busy until it is back", attrs...)
		case nats.CONNECTED:
			last = f.nc.ConnectedAddr()
			attrs := []any{"server", last}
			if !down.IsZero() {
				attrs = append(attrs, "down_for", time.Since(down).Round(time.Millisecond), "not_stored_meanwhile", f.failed.Load()-failedBefore)
			}
			f.log.Info("jetstream forwarder: NATS connection back", attrs...)
			down = time.Time{}
		}
	}
}
