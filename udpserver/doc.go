// Package udpserver is the udpkit acknowledgement server: it receives DATA
// messages (and raw text datagrams) over UDP, hands each to a Handler once,
// and answers with ACK or NACK as PROTOCOL.md describes.
//
// It is shaped like net/http and miekg/dns: a one-method Handler with a
// HandlerFunc adapter, Serve for a socket you bring, ListenAndServe for one
// it opens, Shutdown for a graceful stop and Close for an immediate one.
//
//	s := &udpserver.Server{
//		Handler: udpserver.HandlerFunc(func(ctx context.Context, r *udpserver.Request) error {
//			if len(r.Payload) == 0 {
//				return udpserver.Reject(wire.CodeRejected, "empty message")
//			}
//			return store(ctx, r.Payload) // the ACK leaves only after this returned nil
//		}),
//	}
//	err := s.ListenAndServe(ctx, ":9797")
//
// # What the server guarantees
//
//   - At most once: the handler runs once per (sender address and port,
//     message ID) within DedupWindow (120 s, EXCHANGE_LIFETIME). A
//     retransmission gets the stored reply again; one that arrives while the
//     handler still runs is dropped (its reply is on the way). The table is
//     bounded in total (DedupEntries, oldest out) and per source address
//     (DedupPerSource), so a flood cannot push everyone else out.
//   - Acknowledged means handled: the ACK is sent after ServeUDP returned nil.
//   - No amplification: a reply is never longer than its request; malformed
//     datagrams, replies and unknown types are dropped and counted, never
//     answered. Stats returns the counters.
//   - Replies leave from the address the request was sent to: on a wildcard
//     bind the server reads the destination of each datagram from
//     IP_PKTINFO / IPV6_PKTINFO and sets it as the reply's source, with the
//     interface index (as miekg/dns does). On a specific bind the socket can
//     only send from that address.
//
// # Execution model
//
// Each socket is served by Workers goroutines (default 1), each of which
// reads datagrams, runs the handler inline for each, sends the replies and
// reads again. With the default, messages arriving on one socket are
// handled one at a time in arrival order. Buffers, control-message space
// and the Request are reused, so steady-state serving allocates nothing
// per datagram (see BenchmarkServe, TestServeAllocs and TestProcessAllocs).
//
// On Linux a worker reads up to BatchSize datagrams (default 64 with one
// worker) with one recvmmsg call and sends their replies with one
// sendmmsg call, which halves the system calls per datagram under load
// and costs nothing at one request in flight (a batch is whatever is
// queued, never waited for). BatchSize 1 turns it off.
//
// Sockets > 1 (or ListenConfig.ReusePort for sockets you open) serves one
// address with several SO_REUSEPORT sockets, which the kernel balances by
// sender: useful on a multi-core host with many senders.
//
// # Deferred replies
//
// A handler that hands messages on to something slower (a broker, a
// disk queue) need not block the worker: it calls Request.Defer, returns,
// and completes the returned Responder later from any goroutine; the ACK
// or NACK leaves then, exactly once. Until then a retransmission of the
// message is dropped, as while a handler runs, and the handler never runs
// twice for it. MaxDeferred (default 4096) bounds the replies outstanding;
// past it Defer returns an error that refuses the message with NACK busy.
// Shutdown waits for the deferred replies before it closes the sockets.
// Package forward/jetstream is such a handler.
//
// A NACK busy, deferred or not, is not remembered in the de-duplication
// table: the handler did not take the message, so its retransmission is
// handled anew.
//
// # Limits for an exposed server
//
// RateLimit gives every source (IPv4 address or IPv6 /64) a token bucket,
// checked before anything else; over it, a DATA gets NACK "rate limited"
// once a second and the rest is dropped. The rate-limit and
// de-duplication tables have hard caps (RateSources, DedupEntries,
// DedupPerSource), so memory stays bounded under any flood, spoofed
// sources included; logs about single datagrams are rate-limited too.
// Replies are never longer than their requests.
//
//	s := &udpserver.Server{RateLimit: 1000, RateBurst: 200} // per source
//
// # Raw mode
//
// A datagram without the udpkit magic (from nc -u, or echo >/dev/udp/...)
// is handed to the handler with Request.Raw set and answered "ack\n", cut
// to the datagram's length when shorter. A refused raw message gets no
// reply (raw mode has no words for a refusal). Set DisableRaw to drop them.
package udpserver
