package discovery

import (
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"

	"github.com/udpkit/udpkit/wire"
)

// DefaultService is the service type udpkit servers announce when none is
// configured.
const DefaultService = wire.ServiceServer

// DefaultInstance returns the instance name an Announcer uses when none is
// configured: the first label of the host name and a suffix of six hex
// digits derived from the port and the addresses the server announces, so
// the name is stable across restarts yet differs between hosts that share
// a host name (containers, cloned machines), as their addresses differ.
func DefaultInstance(port uint16, addrs []string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "udpkit"
	}
	host, _, _ = strings.Cut(host, ".")
	h := fnv.New64a()
	fmt.Fprint(h, port)
	for _, a := range addrs {
		io.WriteString(h, "\x00"+a)
	}
	suffix := fmt.Sprintf("-%06x", h.Sum64()&0xffffff)
	if len(host)+len(suffix) > wire.MaxInstanceLen {
		host = wire.TruncateUTF8(host, wire.MaxInstanceLen-len(suffix))
	}
	return host + suffix
}
