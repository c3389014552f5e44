package cliflag

import (
	"fmt"
	"math"
	"strconv"

	"github.com/spf13/pflag"
)

// JSON defines --json, one wording for every command: the command's
// results as JSON objects, one a line, instead of text.
func JSON(fs *pflag.FlagSet) *bool {
	return fs.Bool("json", false, "write the results as JSON objects, one a line (JSON Lines), instead of text")
}

// Interfaces defines -I/--iface, the interface selection (netif specs) of
// the commands that browse, announce or join groups: repeatable, and not
// split at commas (templates contain them).
func Interfaces(fs *pflag.FlagSet, p *[]string) {
	fs.StringArrayVarP(p, "iface", "I", nil, "interface to use: `name`, address, CIDR or go-sockaddr template (repeatable; default: every interface that is up, not loopback, and can broadcast or multicast; 'udpcli ifaces SPEC' shows what a SPEC selects)")
}

// DatagramSize defines -s/--size, the payload bytes after a header of
// header bytes (as ping's -s), and --datagram-size, the whole datagram
// (what -s meant before it followed ping); payload is -s's default. The
// function it returns gives the whole datagram's size once the flags are
// parsed, at most max bytes, or an error naming the flag.
func DatagramSize(fs *pflag.FlagSet, payload, header, max int) func() (int, error) {
	size := fs.IntP("size", "s", payload, fmt.Sprintf("payload bytes of each datagram, after its %d-byte header, as ping's -s (0 to %d)", header, max-header))
	whole := fs.Int("datagram-size", 0, fmt.Sprintf("bytes of each datagram, header included (%d to %d): what -s meant before it followed ping", header, max))
	return func() (int, error) {
		switch {
		case fs.Changed("size") && fs.Changed("datagram-size"):
			return 0, fmt.Errorf("-s/--size (payload) and --datagram-size (the whole datagram) exclude each other")
		case fs.Changed("datagram-size"):
			if *whole < header || *whole > max {
				return 0, fmt.Errorf("--datagram-size %d: want %d to %d bytes", *whole, header, max)
			}
			return *whole, nil
		case *size < 0 || *size > max-header:
			return 0, fmt.Errorf("-s/--size %d: want 0 to %d payload bytes (the %d-byte header comes on top)", *size, max-header, header)
		}
		return header + *size, nil
	}
}

// Int defines an int flag that takes min to max (math.MaxInt: no upper
// bound): other values are refused while parsing, in one wording for every
// command ("want 0 or more", "want 1 to 255").
func Int(fs *pflag.FlagSet, name, short string, value, min, max int, usage string) *int {
	v := &intValue{n: value, min: min, max: max}
	fs.VarP(v, name, short, usage)
	return &v.n
}

// Count is Int without an upper bound: counts, retries.
func Count(fs *pflag.FlagSet, name, short string, value, min int, usage string) *int {
	return Int(fs, name, short, value, min, math.MaxInt, usage)
}

// intValue is the value of an Int flag.
type intValue struct{ n, min, max int }

// Set parses s as a whole number from min to max.
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return err
	case (n < v.min || n > v.max) && v.max == math.MaxInt:
		return fmt.Errorf("want %d or more", v.min)
	case n < v.min || n > v.max:
		return fmt.Errorf("want %d to %d", v.min, v.max)
	}
	v.n = n
	return nil
}

// Type names the flag's kind in --help, as pflag's own int flags.
func (v *intValue) Type() string { return "int" }

// String formats the value.
func (v *intValue) String() string { return strconv.Itoa(v.n) }
