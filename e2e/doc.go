// Package e2e holds end-to-end tests that build udpserver and udpcli and run
// them as real processes over real sockets, as a user would.
//
// Tests that need packet loss run the processes inside a network namespace
// that the test creates (unshare -n), with nft rules on its loopback
// interface; they skip with a message when the machine does not allow that
// (not root, no unshare, no nft). Nothing here sends beyond loopback.
package e2e
