package wire

import "strconv"

// IDString is the one notation of a message ID in udpkit's output, text and
// JSON alike: 16 lower-case hexadecimal digits ("00000000000000ff"). A JSON
// string, not a number: a 64-bit ID does not fit a JSON reader's float64.
// For a probe (Session<<32 | Seq) the first 8 digits are its session.
func IDString(id uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[id&0xf]
		id >>= 4
	}
	return string(b[:])
}

// SessionString is the one notation of a multicast test session (and of
// the session attribute of its announcements): 8 lower-case hexadecimal
// digits ("6812a9f9").
func SessionString(s uint32) string { return IDString(uint64(s))[8:] }

// ParseID reads an ID written by IDString (or any 1 to 16 hexadecimal
// digits).
func ParseID(s string) (uint64, error) { return strconv.ParseUint(s, 16, 64) }
