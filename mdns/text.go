package mdns

import (
	"strconv"

	"github.com/udpkit/udpkit/wire"
)

// TextVersionKey is the TXT key with which a udpkit server says which
// protocol version it speaks (wire.Version): "udpkit=1".
const TextVersionKey = "udpkit"

// ServerText returns the TXT strings of a udpkit server's DNS-SD record:
// its attributes ("key=value" pairs, as discovery announces them), then
// "udpkit=VERSION", so that a browser knows before it sends anything that
// the service speaks udpkit and which version. attrs is not changed.
func ServerText(attrs []string) []string {
	out := make([]string, 0, len(attrs)+1)
	out = append(out, attrs...)
	return append(out, TextVersionKey+"="+strconv.Itoa(wire.Version))
}
