package udpserver

import (
	"log/slog"

	"github.com/udpkit/udpkit/wire"
)

// DefaultBatchSize is how many datagrams a worker reads in one system call
// on Linux (recvmmsg) and how many replies it sends in one (sendmmsg).
const DefaultBatchSize = 64

// batchConn is the batch I/O layer of one socket (batch_linux.go). Its
// packets are owned by one worker: each exchange sends the replies to the
// packets the previous one filled, then fills them again.
type batchConn interface {
	// packets returns the conn's packets, BatchSize of them.
	packets() []*packet
	// exchange sends outs[i] to packet i's sender, from the address the
	// packet was sent to, for each non-nil outs[i] with i < n, and returns
	// how many replies it could not send and the last error; then it
	// blocks for at least one datagram and returns how many packets it
	// filled, or the read's error. The replies are sent even when the
	// read fails.
	exchange(n int, outs [][]byte) (failed int, werr error, next int, err error)
}

// serveBatch is the read-handle-reply loop of one worker on a batchConn:
// it reads up to BatchSize datagrams, runs process on each in order, and
// sends all their replies at once, at the start of the next read. jw, if any, watches the senders for a
// flood (jail.go). A reply thus waits for the handlers of
// the datagrams read after its request in the same batch; with a handler
// that blocks, prefer BatchSize 1 and more Workers.
func (s *Server) serveBatch(bc batchConn, jw *jailWatch) error {
	defer s.wg.Done()
	pkts := bc.packets()
	bufs := make([][]byte, len(pkts))
	outs := make([][]byte, len(pkts))
	for i := range bufs {
		bufs[i] = make([]byte, 0, max(s.cfg.maxDatagram, wire.HeaderLen+maxReasonLen))
	}
	w := newWorker(s)
	var backoff readBackoff
	n := 0 // packets read by the last exchange, whose replies outs holds
	for {
		failed, werr, next, err := bc.exchange(n, outs)
		if failed > 0 && !s.isClosing() {
			s.stats.writeErrors.Add(uint64(failed))
			s.logLimited(&s.logWrite, slog.LevelWarn, "udpserver: write failed", "err", werr, "replies", failed)
		}
		n = 0
		if err != nil {
			if err := s.readFailed(&backoff, err); err != nil {
				return err
			}
			continue
		}
		backoff, n = 0, next
		if jw != nil {
			for i := range n {
				jw.observe(pkts[i].remote)
			}
		}
		for i := range n {
			outs[i] = w.process(s.ctx, pkts[i], bufs[i])
		}
		w.done() // counted before the replies leave, in the next exchange
	}
}
