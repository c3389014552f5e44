//go:build !linux

package udpserver

// Without recvmmsg/sendmmsg every socket is served one datagram at a time.

const batchSupported = false

func newBatchConn(c conn, size, maxDatagram int) batchConn { return nil }

// stopReads has nothing to wake: every read waits in the runtime's poller,
// which a read deadline reaches.
func stopReads(c conn) {}
