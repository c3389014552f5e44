package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/client"
)

// dial is client.Dial; tests substitute errors this machine cannot produce.
var dial = client.Dial

// dialServer opens a client to address. A malformed address or a name that
// does not exist is a usage error (exit 2, with the hint to --help); any
// other failure, such as no route to the address or every address of a name
// refusing, is the network's answer (exit 1).
func dialServer(ctx context.Context, address string, cfg *client.Config) (*client.Client, error) {
	c, err := dial(ctx, address, cfg)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, client.ErrBadAddress):
		return nil, usagef("%v", err)
	case errors.Is(err, context.Canceled):
		return nil, failed(errors.New("interrupted"))
	}
	return nil, failed(err)
}

// secondsValue is a duration flag that takes plain seconds ("0.5", as ping
// does) or a Go duration ("200ms", "1m30s").
type secondsValue time.Duration

func secondsFlag(fs *pflag.FlagSet, name, short string, value time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	*p = value
	fs.VarP((*secondsValue)(p), name, short, usage)
	return p
}

func (v *secondsValue) Set(s string) error {
	d, err := parseSeconds(s)
	if err != nil {
		return err
	}
	*v = secondsValue(d)
	return nil
}

func (v *secondsValue) Type() string { return "seconds" }

func (v *secondsValue) String() string {
	return strconv.FormatFloat(time.Duration(*v).Seconds(), 'f', -1, 64)
}

// maxSeconds bounds the seconds flags: longer than anyone waits for a
// datagram, short enough not to overflow a time.Duration.
const maxSeconds = 1e6

// parseSeconds parses a seconds flag. Its errors say what is wrong and what
// would be right without repeating the value: flagErrorText names the flag
// and the value before them.
func parseSeconds(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		switch {
		case f != f: // NaN
			return 0, errors.New("not a number of seconds: want seconds (0.5) or a duration (200ms)")
		case f < 0:
			return 0, errors.New("negative: want 0 or more seconds (0.5) or a duration (200ms)")
		case f > maxSeconds:
			return 0, fmt.Errorf("too long: want at most %g seconds", float64(maxSeconds))
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, errors.New("not a duration: want seconds (0.5) or a duration with a unit (200ms)")
	case d < 0:
		return 0, errors.New("negative: want 0 or more seconds (0.5) or a duration (200ms)")
	case d > maxSeconds*time.Second:
		return 0, fmt.Errorf("too long: want at most %g seconds", float64(maxSeconds))
	}
	return d, nil
}

// flagErrorText rewrites an error of pflag's Parse for people: the flag,
// the value given, what is wrong with it and what would be right, instead
// of Go's wording (invalid argument "abc" for "--retries" flag:
// strconv.ParseInt: parsing "abc": invalid syntax). Other errors (unknown
// flag, missing value) are returned as they are.
func flagErrorText(err error) string {
	var ive *pflag.InvalidValueError
	if !errors.As(err, &ive) || ive.GetFlag() == nil {
		return err.Error()
	}
	f := ive.GetFlag()
	name := "--" + f.Name
	if f.Shorthand != "" {
		name = "-" + f.Shorthand + "/--" + f.Name
	}
	return fmt.Sprintf("%s %q: %s", name, ive.GetValue(), valueProblem(f.Value.Type(), ive.Unwrap()))
}

// valueProblem says what is wrong with a flag's value of type typ (pflag's
// type names: int, float64, bool, duration...), given its Set's error.
func valueProblem(typ string, cause error) string {
	if cause == nil {
		return "invalid value"
	}
	var ne *strconv.NumError
	if errors.As(cause, &ne) {
		rangeErr := errors.Is(ne.Err, strconv.ErrRange)
		switch {
		case ne.Func == "ParseBool":
			return "want true or false"
		case strings.HasPrefix(ne.Func, "ParseFloat") && rangeErr:
			return "too large a number"
		case strings.HasPrefix(ne.Func, "ParseFloat"):
			return "not a number: want e.g. 0.5 or 2"
		case rangeErr:
			return "too large a number"
		default:
			return "not a whole number: want e.g. 3"
		}
	}
	if typ == "duration" {
		return "not a duration: want a number with a unit, e.g. 1.5s or 200ms"
	}
	return cause.Error() // our own Set methods say what is wrong already
}

// fmtMs formats a duration in milliseconds with ping's precision: three
// decimals below 1 ms, two below 10, one below 100, none above.
func fmtMs(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 1:
		return strconv.FormatFloat(ms, 'f', 3, 64)
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64)
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	}
	return strconv.FormatFloat(ms, 'f', 0, 64)
}

// msNumber is a duration in milliseconds for JSON, rounded to microseconds.
func msNumber(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}

// plural returns "1 attempt" or "n attempts".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// oneLine makes untrusted text (a server's NACK reason) safe to print on
// one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
