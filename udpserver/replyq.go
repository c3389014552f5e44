package udpserver

import (
	"log/slog"
	"sync"

	"github.com/udpkit/udpkit/wire"
)

// replyQueueSize is how many completed deferred replies one socket holds
// until its reply loop sends them; a completion that finds the queue full
// sends its reply itself, one system call, as it would without the queue.
const replyQueueSize = 256

// queuedReply is one completed deferred reply waiting to be sent: its
// addresses (in p, whose woob points into oob) and its bytes.
type queuedReply struct {
	p   packet
	n   int
	buf [wire.HeaderLen + maxReasonLen]byte
	oob [oobSize]byte
}

// replyQueue batches the replies of deferred messages on one socket.
//
// Why: a deferred completion comes from the handler's goroutine (a broker's
// PubAck callback, say), outside the worker loops and their sendmmsg, so
// each one used to cost a sendmsg of its own: ~19% of the CPU at 25k
// forwarded acks/s (BENCHMARKS.md). Completions are now appended to a
// bounded queue under a mutex held for a copy of ~40 bytes, and one loop
// per socket sends whatever accumulated with one sendmmsg (Linux; one
// write per reply elsewhere). A reply's deferred slot is released after it
// is sent, so Shutdown, which waits for the slots, waits for the replies.
//
// The queue is two fixed arrays swapped between the producers and the
// loop: no allocation per reply.
type replyQueue struct {
	s    *Server
	c    conn
	wake chan struct{} // one token: the queue became non-empty
	stop chan struct{} // closed when the socket's workers and replies are done
	done chan struct{} // closed when the loop has returned

	mu      sync.Mutex
	pending []*queuedReply // filled by Responder.Done
	spare   []*queuedReply // the loop's, while it sends
	free    []*queuedReply // entries not in pending
	closed  bool           // the loop is done: put refuses

	sender replySender
}

// replySender sends a batch of queued replies on one socket
// (replyq_linux.go: sendmmsg).
type replySender interface {
	send(rs []*queuedReply) (failed int, err error)
}

func newReplyQueue(s *Server, c conn) *replyQueue {
	q := &replyQueue{
		s:       s,
		c:       c,
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		pending: make([]*queuedReply, 0, replyQueueSize),
		spare:   make([]*queuedReply, 0, replyQueueSize),
		free:    make([]*queuedReply, replyQueueSize),
	}
	for i := range q.free {
		r := new(queuedReply)
		r.p.woob = r.oob[:0]
		q.free[i] = r
	}
	q.sender = newReplySender(c)
	go q.run()
	return q
}

// put queues the reply out to the sender of p. It reports false when the
// queue is full: the caller sends the reply itself then. Unless quiet, it
// wakes the loop; quiet puts (AckAll) wake it with one kick at the end.
func (q *replyQueue) put(p *packet, out []byte, quiet bool) bool {
	q.mu.Lock()
	n := len(q.free)
	if n == 0 || q.closed {
		q.mu.Unlock()
		return false
	}
	r := q.free[n-1]
	q.free = q.free[:n-1]
	r.p.remote, r.p.local, r.p.ifindex, r.p.dst, r.p.addr = p.remote, p.local, p.ifindex, p.dst, p.addr
	r.n = copy(r.buf[:], out)
	first := len(q.pending) == 0
	q.pending = append(q.pending, r)
	q.mu.Unlock()
	if first && !quiet {
		q.kick()
	}
	return true
}

// kick wakes the loop.
func (q *replyQueue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run sends the queued replies until stop is closed or the server is
// closed (Close: the socket may be closed, and write errors are not
// counted then). Either way it refuses further puts first and then sends
// what is queued, so that no reply is left holding its deferred slot.
func (q *replyQueue) run() {
	defer close(q.done)
	for {
		select {
		case <-q.wake:
			q.flush()
			continue
		case <-q.stop:
		case <-q.s.ctx.Done():
		}
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		q.flush()
		return
	}
}

// flush sends what is queued now and releases the replies' deferred
// slots. It returns how many replies it handled.
func (q *replyQueue) flush() int {
	q.mu.Lock()
	rs := q.pending
	q.pending, q.spare = q.spare[:0], rs
	q.mu.Unlock()
	if len(rs) == 0 {
		return 0
	}
	if failed, err := q.sender.send(rs); failed > 0 && !q.s.isClosing() {
		q.s.stats.writeErrors.Add(uint64(failed))
		q.s.logLimited(&q.s.logWrite, slog.LevelWarn, "udpserver: write failed", "err", err, "replies", failed)
	}
	q.mu.Lock()
	q.free = append(q.free, rs...)
	q.mu.Unlock()
	for range rs {
		q.s.deferDone()
	}
	return len(rs)
}

// close stops the loop once every queued reply is sent, and waits for it.
func (q *replyQueue) close() {
	close(q.stop)
	<-q.done
}

// connSender sends queued replies one write each: for sockets without
// sendmmsg.
type connSender struct{ c conn }

func (cs connSender) send(rs []*queuedReply) (failed int, err error) {
	for _, r := range rs {
		if e := cs.c.write(&r.p, r.buf[:r.n]); e != nil {
			failed, err = failed+1, e
		}
	}
	return failed, err
}
