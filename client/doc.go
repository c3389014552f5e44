// Package client sends messages to a udpkit server and knows whether they
// arrived: each DATA message is retransmitted until the server acknowledges
// it (ACK), refuses it (NACK), nothing listens (ICMP port unreachable), or
// the retransmissions run out. PROTOCOL.md, section 3, is the normative
// description of the exchange.
//
// # Sending
//
//	c, err := client.Dial(ctx, "127.0.0.1:9797", client.Config{}) // zero Config: LAN defaults
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	res, err := c.Send(ctx, []byte("temperature=21.5"))
//	switch {
//	case err == nil:
//		fmt.Printf("acked after %d attempt(s) in %v\n", res.Attempts, res.RTT)
//	case errors.Is(err, client.ErrRefused): // nothing listens there
//	case errors.Is(err, client.ErrTimeout): // no answer after every retransmission
//	case errors.Is(err, client.ErrRejected): // the server said no; see *RejectedError
//	}
//
// # Message IDs
//
// A client numbers its messages from a random start, +1 per message. The
// start is below 2^52, so IDs stay exact as JSON numbers in JavaScript and
// jq before 1.7, which hold numbers as float64 (exact up to 2^53), for
// 2^52 messages. Other clients may use any 64-bit ID: the protocol and
// udpkit's server accept them all.
//
// # Retransmission
//
// A message keeps its ID across retransmissions, so the server handles it
// once and answers every copy. The first timeout is Config.InitialTimeout
// (200 ms, a LAN value; CoAP's 2-3 s is for radio links) times a random
// factor in [1, 1.5); each further timeout doubles, up to Config.MaxTimeout
// (4 s); after Config.Retries retransmissions (5) the client gives up. It
// never retransmits more than ExchangeLifetime (120 s) after the first
// transmission, the time for which servers remember IDs.
//
// Once a round trip was measured, the first timeout adapts to the path as
// in RFC 6298 (SRTT + 4*RTTVAR, floored at Config.MinTimeout, 50 ms),
// sampled only from messages answered at the first transmission (Karn's
// algorithm).
//
// # Fail fast
//
// The socket is connected to the server, so the kernel reports an ICMP port
// unreachable caused by our datagrams as "connection refused": the waiting
// messages fail at once with ErrRefused instead of timing out.
//
// # Names with several addresses
//
// A name may resolve to several addresses: "localhost" is ::1 and
// 127.0.0.1 in Debian's /etc/hosts, while a server may listen on only one
// of them. Dial then tries each in turn with one PING: the first address
// that answers, or that stays silent (a slow or lossy server is still a
// server), is used; an address that refuses (ICMP port unreachable) is
// skipped. A literal address, or a name with one address, is used as it is.
//
// # Many messages
//
// SendAll keeps several messages in flight with the congestion control
// RFC 8085, section 3.1, asks of UDP applications: one in flight until a
// round trip was measured, then growing towards Config.Window, halved on a
// loss. Outcomes are reported as they arrive.
//
// # Ping
//
// Ping and StartPing measure round trips with PING/PONG, which the server
// answers at once without running its handler; StartPing does not wait,
// reports duplicates and late replies, like ping(8). PingRun is ping(8)'s
// loop on top of it (count, interval, wait, deadline) and returns ping's
// statistics (PingStats); udpcli ping only formats them.
//
// Package clienttest has a fake server for tests.
package client
