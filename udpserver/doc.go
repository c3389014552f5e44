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
//     message ID) within DedupWindow (120 s, EXCHANGE_LIFETIME) of the
//     first copy's arrival, while the process runs (the table is in
//     memory). A retransmission gets the stored reply again; one that
//     arrives while the handler still runs is dropped (its reply is on the
//     way). No entry leaves its table before its window has passed.
//   - Bounded memory by refusal, not by forgetting: the table admits at
//     most DedupEntries exchanges (default 262144), DedupPerSource per
//     sender (address and port, default 16384) and DedupPerHost per host
//     (IPv4 address or IPv6 /64, default 65536). A new message over a
//     limit gets NACK busy (Stats.Busy) and the client may send it again
//     later; everything remembered is still answered, so no other socket,
//     program or forged datagram can make a sender's message run twice.
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
// # Authentication
//
// With Keys set (udpserver --key-file), the server verifies every datagram
// before anything else, as PROTOCOL.md section 5 says: the tag (one
// HMAC-SHA-256, no table touched, nothing allocated), then the replay
// window of its sender and the clock bound. Whatever fails is dropped
// unanswered and counted (Stats.Unauthenticated, BadTag, Replayed, Stale,
// AuthSendersFull), raw text included. Replies are sealed with the key of
// their request. The guarantees above then hold per authenticated sender:
// the handler runs at most once per (key ID, sender ID, message ID), a
// captured datagram replayed from any address at any later time never runs
// it again, shares and the rate limit are counted per (key ID, sender ID)
// and DedupPerHost per key ID. Request.Authenticated, KeyID and Sender say
// who sealed a message. The payload is not encrypted (SECURITY.md).
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
// queued, never waited for). BatchSize 1 turns it off. With more than
// one P (GOMAXPROCS > 1) a batch worker whose socket is empty sleeps in
// recvmmsg itself, as a C server does, rather than in the runtime's
// poller, so the socket is switched to blocking mode (every other call on
// it passes MSG_DONTWAIT); Shutdown and Close wake it with
// shutdown(SHUT_RD). Anything else that waits for its reads to end
// (closing the socket directly, a read deadline) waits up to 20 ms.
//
// Sockets > 1 serves one address with several SO_REUSEPORT sockets, which the kernel balances by
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
// Completed replies are queued per socket (256 at most; past that a
// completion sends its own) and the socket's reply goroutine sends what
// accumulated in one sendmmsg on Linux, so a burst of completions costs
// one system call rather than one each.
// Package forward/jetstream is such a handler.
//
// A NACK busy, deferred or not, is not remembered in the de-duplication
// table: the handler did not take the message, so its retransmission is
// handled anew.
//
// # Limits for an exposed server
//
// Malformed datagrams are dropped right after the one parse, before any
// table. RateLimit gives every source (IPv4 address or IPv6 /64) a token
// bucket, checked next; over it, a DATA gets a cookie NACK (cookie.go,
// PROTOCOL.md 3.1: a client that echoes the cookie is counted apart from
// datagrams forged with its address) while the server-wide CookieRate
// lasts, or NACK "rate limited" once a second, and the rest is dropped.
// Sockets > 1 gives each source host a kernel receive queue of its own
// (sockets.go: a classic BPF program picks the socket by a hash of the
// source address, with a random multiplier), so one host's flood fills
// only its own queue; and one more socket, the quarantine socket
// (jail.go, DisableQuarantine), takes a host found flooding, so that it
// no longer shares its queue with the hosts the hash put with it. The rate-limit and
// de-duplication tables have hard caps (RateSources, DedupEntries,
// DedupPerSource, DedupPerHost), so memory stays bounded under any flood,
// spoofed sources included; logs about single datagrams are rate-limited
// too. Replies are never longer than their requests.
//
// # Sizing the de-duplication table
//
// A sender needs one entry for every message it started within the last
// EXCHANGE_LIFETIME, whatever its window: it may retransmit any of them
// until then. So a share of S entries is a rate of S/120 new messages a
// second sustained (bursts of any speed up to S), and the caps are rates:
//
//	DedupPerSource 16384   136/s per client socket
//	DedupPerHost   65536   546/s per host, all its sockets
//	DedupEntries   262144  2184/s for the whole server, 30 MiB
//
// Each entry costs DedupBytesPerEntry (120) bytes once the table has
// grown to its size (a 40-byte entry in a ring kept in arrival order, an
// open-addressing index at load ≤ 1/2 and the per-sender and per-host
// counts), so memory is DedupEntries × 120 bytes at most, whatever
// arrives: 30 MiB by default, reached after 262144 new IDs from forged
// senders, under 4 MiB for one sender's flood (BENCHMARKS.md). A per-host
// RateLimit of R would need R × 120 entries per host never to refuse
// (1.2 million at cmd/udpserver's 10000/s, 144 MiB): the shares are the
// tighter bound, and a server whose senders need more exactly-once
// throughput raises them at 120 bytes an entry. The table grows by
// doubling from 1024 entries, so an idle server holds ~120 KiB; once
// grown it allocates nothing. That is the table's memory, not the
// process's: at Go's default GOGC the heap may grow to twice what is
// live, and the last doubling has the old and the new table live at
// once, so a process whose table filled sits near 70 MiB RSS unless a
// soft memory limit (debug.SetMemoryLimit, $GOMEMLIMIT) a little above
// the table keeps the collector ahead (cmd/udpserver sets table + 16 MiB:
// ~52 MiB RSS; BENCHMARKS.md).
//
// A sender past its share gets NACK busy with the text
// wire.ReasonSenderShareFull (wire.ReasonHostShareFull,
// wire.ReasonTableFull for the other bounds) when the text fits whole in
// a reply no longer than the request, else the code alone. With cookies
// the shares are kept apart for senders that echoed a valid cookie
// (proved) and for the rest (claimed), so that datagrams forged with a
// host's address, once past the rate limiter, fill only the claimed
// shares; an unproved sender over one gets a cookie NACK instead of busy
// while the cookie budgets last (Stats.DedupCookies). A handler that
// stores elsewhere says why it could not in the same way: the JetStream
// forwarder's NACK busy carries wire.ReasonNotStored.
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
