// Package readloop is the one discipline of udpkit's read loops (client,
// discovery, multicast tests): what a loop does when a read fails, and how
// a context ends a blocking read.
//
// A read that fails for another reason than the socket's closing is
// counted by the caller, logged through a LogLimiter (a burst of 5 lines,
// then one a second, the next line carrying how many were suppressed), and
// followed by a pause that doubles from 5 ms to 1 s while reads keep
// failing (Backoff), so that a broken socket is never hot-looped and never
// floods the log:
//
//	var f readloop.Failures
//	for {
//		n, err := c.Read(buf)
//		if err != nil {
//			if errors.Is(err, net.ErrClosed) {
//				return
//			}
//			if !f.Failed(done, log, "read failed", err) {
//				return // done closed while backing off
//			}
//			continue
//		}
//		f.Succeeded()
//		...
//	}
//
// Wake makes a context end a blocking read by setting a read deadline in
// the past, and its stop function waits until that wake-up has run before
// restoring the deadline: without the wait, a context that ends just after
// the read returned leaves a past deadline on the socket and every later
// read fails (the race context.AfterFunc's documentation warns about).
package readloop
