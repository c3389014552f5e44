// Command plainack is the naive Go server that udpserver is measured against
// (BENCHMARKS.md, bench/ackbench.sh): a ReadFromUDP / WriteToUDP loop that
// answers every udpkit DATA datagram with its 16-byte ACK and every PING with
// its PONG, with the same checks as bench/ackserver.c (magic, version, type)
// and nothing else: no de-duplication, no handler, no counters. It allocates
// per datagram (the *net.UDPAddr ReadFromUDP returns), as ordinary Go code does.
//
// Usage: plainack ADDR:PORT
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: plainack ADDR:PORT")
		os.Exit(2)
	}
	la, err := net.ResolveUDPAddr("udp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c, err := net.ListenUDP("udp", la)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			continue
		}
		b := buf[:n]
		if n < 16 || b[0] != 0xFA || b[1] != 0x4B || b[2] != 1 {
			continue
		}
		switch b[3] {
		case 0x01: // DATA -> ACK, header only
			b[3], b = 0x02, b[:16]
		case 0x04: // PING -> PONG, same body
			b[3] = 0x05
		default:
			continue
		}
		c.WriteToUDP(b, from)
	}
}
