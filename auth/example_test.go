package auth_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/wire"
)

// A client signs a DATA message, a server verifies it, refuses its replay
// and answers with an ACK signed with the request's key.
func Example() {
	keys, err := auth.ParseKeyFile([]byte(`
# a published secret: never use it
current 7 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	client, _ := auth.NewSender(keys, auth.SenderConfig{})
	server, _ := auth.NewSender(keys, auth.SenderConfig{})
	inbox := auth.NewReceiver(keys, auth.ReplayConfig{NotBefore: time.Now().Add(-time.Second)})

	datagram, _ := client.Sign(wire.AppendData(nil, 42, []byte("temperature=21.5")))
	fmt.Println("sent", len(datagram), "bytes")

	m, err := inbox.Verify(datagram)
	if err != nil {
		fmt.Println("drop:", err)
		return
	}
	fmt.Printf("%v id=%d key=%d body=%q\n", m.Header.Type, m.Header.ID, m.Header.KeyID, m.Body)
	ack, _ := server.SignWith(wire.AppendAck(nil, m.Header.ID), m.Header.KeyID)
	fmt.Println("ack", len(ack), "bytes")

	_, err = inbox.Verify(datagram) // captured and sent again
	fmt.Println(errors.Is(err, auth.ErrReplay), err)

	datagram[20] ^= 1 // a flipped bit
	_, err = inbox.Verify(datagram)
	fmt.Println(err)
	// Output:
	// sent 72 bytes
	// data id=42 key=7 body="temperature=21.5"
	// ack 56 bytes
	// true auth: replayed datagram
	// auth: authentication tag does not match
}
