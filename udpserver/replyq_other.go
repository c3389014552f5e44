//go:build !linux

package udpserver

func newReplySender(c conn) replySender { return connSender{c} }
