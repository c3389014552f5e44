package wire

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Name limits from DNS-SD (RFC 6763) and service names (RFC 6335).
const (
	// MaxInstanceLen is the longest instance name in bytes (one DNS label,
	// RFC 6763 section 4.1.1).
	MaxInstanceLen = 63
	// MaxAttrLen is the longest attribute ("key=value") in bytes (one TXT
	// string, RFC 6763 section 6.1).
	MaxAttrLen = 255
	// maxServiceNameLen is the longest service name without the leading
	// underscore and protocol (RFC 6335 section 5.1).
	maxServiceNameLen = 15
)

// ErrInvalidName is returned (wrapped, with the reason) for a service type,
// instance name or attribute that breaks the DNS-SD rules.
var ErrInvalidName = errors.New("wire: invalid name")

// ValidateService checks a DNS-SD service type such as "_udpkit._udp": an
// underscore, a service name of 1 to 15 letters, digits and hyphens (at
// least one letter, no hyphen at either end or twice in a row, RFC 6335),
// then "._udp" or "._tcp".
func ValidateService(s string) error {
	// The protocol label compares without case, as every DNS label does.
	name, ok := s, false
	if n := len(s) - len("._udp"); n >= 0 && (strings.EqualFold(s[n:], "._udp") || strings.EqualFold(s[n:], "._tcp")) {
		name, ok = s[:n], true
	}
	if !ok {
		return fmt.Errorf("%w: service type %q must end in ._udp or ._tcp", ErrInvalidName, s)
	}
	name, ok = strings.CutPrefix(name, "_")
	if !ok || name == "" {
		return fmt.Errorf("%w: service type %q must start with an underscore and a name, like _udpkit._udp", ErrInvalidName, s)
	}
	if len(name) > maxServiceNameLen {
		return fmt.Errorf("%w: service name %q is longer than %d characters", ErrInvalidName, name, maxServiceNameLen)
	}
	letter := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9':
		case c == '-':
			if i == 0 || i == len(name)-1 || name[i-1] == '-' {
				return fmt.Errorf("%w: service name %q has a hyphen at an end or two in a row", ErrInvalidName, name)
			}
		default:
			return fmt.Errorf("%w: service name %q may only hold letters, digits and hyphens", ErrInvalidName, name)
		}
	}
	if !letter {
		return fmt.Errorf("%w: service name %q needs at least one letter", ErrInvalidName, name)
	}
	return nil
}

// ValidateInstance checks an instance name: 1 to 63 bytes of UTF-8 without
// control characters (RFC 6763 section 4.1.1). Any other character,
// spaces and dots included, is allowed.
func ValidateInstance(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty instance name", ErrInvalidName)
	case len(s) > MaxInstanceLen:
		return fmt.Errorf("%w: instance name %q is %d bytes, at most %d", ErrInvalidName, s, len(s), MaxInstanceLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: instance name %q is not valid UTF-8", ErrInvalidName, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: instance name %q holds a control character", ErrInvalidName, s)
		}
	}
	return nil
}

// ValidateAttr checks one attribute in DNS-SD TXT form, "key=value" or a
// bare "key" (a boolean attribute): at most 255 bytes, a non-empty key of
// printable ASCII (0x20 to 0x7E) without '='. The value is any bytes.
func ValidateAttr(a string) error {
	if len(a) > MaxAttrLen {
		return fmt.Errorf("%w: attribute %.20q... is %d bytes, at most %d", ErrInvalidName, a, len(a), MaxAttrLen)
	}
	key, _, _ := strings.Cut(a, "=")
	if key == "" {
		return fmt.Errorf("%w: attribute %q has an empty key", ErrInvalidName, a)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return fmt.Errorf("%w: attribute key %q must be printable ASCII", ErrInvalidName, key)
		}
	}
	return nil
}

// ValidateAttrs checks every attribute and that no key appears twice
// (keys compare case-insensitively, RFC 6763 section 6.4).
func ValidateAttrs(attrs []string) error {
	seen := make(map[string]bool, len(attrs))
	for _, a := range attrs {
		if err := ValidateAttr(a); err != nil {
			return err
		}
		k := strings.ToLower(AttrKey(a))
		if seen[k] {
			return fmt.Errorf("%w: attribute key %q appears twice", ErrInvalidName, AttrKey(a))
		}
		seen[k] = true
	}
	return nil
}

// AttrKey returns the key of attribute a ("key=value" or "key").
func AttrKey(a string) string {
	k, _, _ := strings.Cut(a, "=")
	return k
}

// SplitAttr splits attribute a into its key and value; hasValue is false
// for a boolean attribute, a bare "key" (RFC 6763 section 6.4), which
// differs from "key=" (an empty value).
func SplitAttr(a string) (key, value string, hasValue bool) {
	return strings.Cut(a, "=")
}

// LookupAttr returns the value of the first attribute in attrs whose key
// equals key (case-insensitively) and whether there is one. A boolean
// attribute (a bare key) has the value "".
func LookupAttr(attrs []string, key string) (string, bool) {
	for _, a := range attrs {
		k, v, _ := strings.Cut(a, "=")
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// EqualFold compares names the way DNS does (RFC 4343): ASCII letters
// case-insensitively, every other byte exactly. strings.EqualFold would also
// fold non-ASCII letters, which DNS-SD names must not.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// FoldCase lower-cases ASCII letters only, as DNS does (RFC 4343): the
// key under which names compare.
func FoldCase(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
