// Package jetstream stores the messages a udpserver accepts in a NATS
// JetStream stream, and acknowledges each to its device only once the
// stream confirmed it: an ACK then means "stored, replicated as the stream
// is", not "seen by one process".
//
//	nc, _ := nats.Connect("nats://127.0.0.1:4222")
//	fwd, err := jetstream.New(ctx, nc, jetstream.Config{Instance: "kitchen"})
//	if err != nil {
//		return err // no stream stores "udpkit.kitchen", or the broker is unreachable
//	}
//	srv := &udpserver.Server{Handler: fwd}
//	err = srv.ListenAndServe(ctx, ":9797")
//
// New refuses a configuration that could store nothing: no stream stores
// the subject (ErrNoStream), the stream named by Config.Stream stores other
// subjects (ErrNotStored: New names the stream, its subjects and ours), or
// the server has no JetStream (ErrNoJetStream). EnsureStream never widens
// an existing stream; that is the operator's call (nats stream edit).
//
// # What is published
//
// Each message goes to the subject of Config.Subject (default
// "udpkit.{instance}"), its payload unchanged, with headers Udpkit-Source
// (sender address and port), Udpkit-Destination, Udpkit-Received (RFC
// 3339, UTC), Udpkit-Kind ("data" or "raw"), Udpkit-Message-Id and
// Udpkit-Instance, and Nats-Msg-Id, the sender's identity and the message
// ID in hex:
//
//   - without authentication, "<address:port>/<ID>", e.g.
//     "198.18.0.5:4000/1c" or "[fd18::5]:4000/1c" (MsgID);
//   - for a message that passed verification (udpserver.Server.Keys,
//     udpserver --key-file; Request.Authenticated), "key:<key ID in
//     decimal>:<sender ID in hex>/<ID>", e.g. "key:7:3fa2/1c" (KeyMsgID):
//     the identity the datagram was sealed with, whatever its address.
//
// The server de-duplicates under the same identity.
//
// # Delivery guarantee
//
//   - Over UDP, at least once: the device retransmits until it gets an ACK,
//     and the ACK leaves only after the PubAck. A publish that fails or is
//     not confirmed within Config.Timeout gets NACK busy, which the server
//     does not remember, so the device's retransmission (same ID, here or
//     at another server: client.ServiceClient) is published again.
//   - In the stream, exactly once within its duplicate window: every copy
//     of one message carries the same Nats-Msg-Id, and JetStream stores the
//     first and answers the others with a PubAck marked duplicate (which
//     the device gets as an ACK). The window must cover a device's whole
//     retransmission span, EXCHANGE_LIFETIME (120 s, MinDuplicates); New
//     warns when it is shorter. JetStream's default is 2 minutes.
//   - Without authentication the identity is the sender's address and
//     port: a device that fails over keeps them (client.ServiceClient
//     binds one local port for every server), one that restarts with a new
//     port or behind a NAT that re-maps it is a new sender, and a
//     retransmission from it may be stored twice. With authentication it
//     is the key ID and sender ID: a keyed device that changes port or
//     address, or reaches another server, is stored once. Raw datagrams have no message ID and no Nats-Msg-Id:
//     each copy is stored.
//   - Nothing acknowledged is lost as long as the stream keeps it: with an
//     R3 stream the PubAck comes after a majority of the replicas stored
//     the message.
//
// # Throughput
//
// ServeUDP does not wait for the PubAck: it defers the reply
// (udpserver.Request.Defer) and publishes asynchronously, up to
// Config.MaxPending publishes in flight (and the server's MaxDeferred);
// past that bound a message gets NACK busy at once. The Forwarder
// publishes with the core NATS client, each message with a reply subject
// of its own on one subscription, and reads the PubAcks itself; the ACKs
// of one burst of PubAcks leave together (udpserver.AckAll: one sendmmsg).
// A publish unconfirmed after Config.Timeout gets NACK busy.
//
// Each forwarded message passes through four goroutines (the server's
// worker, nats.go's flusher and read loop, the PubAck subscription) and
// the server's reply loop. With the broker on the same small machine (2
// CPUs), one P keeps those hand-offs on one thread instead of waking an
// idle one each time, which cut udpserver's CPU per forwarded message by
// about a quarter and left the broker more of the machine (BENCHMARKS.md):
// udpserver --forward therefore runs on one P by itself when the broker it
// connected to is on a loopback address, the host has at most 2 CPUs and
// GOMAXPROCS is not set. With the broker elsewhere it keeps Go's default:
// one P would cap the server at one core.
//
// # Refusals and the log
//
// Every message the forwarder cannot store gets NACK busy with the text
// wire.ReasonNotStored ("not stored", when the reply has room for it), so
// that a client tells its user that storage, not the server's
// exactly-once shares, refused it (client.RejectedError.Explain). The cause
// goes to Config.Logger at info level: the first failure at once, then at
// most one line per Config.LogEvery (10 s) with counts by cause (timeout,
// stream_full, no_responders, refused, too_many_pending, closed, other),
// and a line when the NATS connection is lost and when it is back. Set a
// short nats.PingInterval on the connection (udpserver --forward-ping: 2
// s) so that a silently cut link is noticed in seconds.
// BENCHMARKS.md compares the acknowledged rate with `nats bench` on the
// same machine (bench/jsbench.sh).
package jetstream
