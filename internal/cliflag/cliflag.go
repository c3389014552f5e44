// Package cliflag holds what the udpkit commands share on their command
// lines: a seconds flag that also takes Go durations, the --key-file flag,
// and error messages for bad flag values that say what is wrong and what
// would be right.
package cliflag

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// secondsValue is a duration flag that takes plain seconds ("0.5", as ping
// does) or a Go duration ("200ms", "1m30s").
type secondsValue time.Duration

// Seconds defines a flag that takes plain seconds ("0.5", as ping does) or
// a Go duration ("200ms", "1m30s"), from 0 to a million seconds.
func Seconds(fs *pflag.FlagSet, name, short string, value time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	*p = value
	fs.VarP((*secondsValue)(p), name, short, usage)
	return p
}

// Set parses s as seconds or a duration.
func (v *secondsValue) Set(s string) error {
	d, err := ParseSeconds(s)
	if err != nil {
		return err
	}
	*v = secondsValue(d)
	return nil
}

// Type names the flag's kind in --help.
func (v *secondsValue) Type() string { return "seconds" }

// String formats the value in seconds.
func (v *secondsValue) String() string {
	return strconv.FormatFloat(time.Duration(*v).Seconds(), 'f', -1, 64)
}

// maxSeconds bounds the seconds flags: longer than anyone waits for a
// datagram, short enough not to overflow a time.Duration.
const maxSeconds = 1e6

// ParseSeconds parses the value of a Seconds flag. Its errors say what is
// wrong and what would be right without repeating the value: ErrorText names
// the flag and the value before them.
func ParseSeconds(s string) (time.Duration, error) {
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

// aliasOf is the annotation that marks a flag as another spelling of the
// flag it names.
const aliasOf = "cliflag-alias-of"

// Alias makes the letter short another spelling of the flag name, for the
// scripts written before the letter moved to its one meaning across the
// commands. The alias shares the flag's value, is hidden from --help (the
// README's flag table lists it) and is reported under the flag's name in
// errors. It panics when name is not defined, as pflag does for a flag
// defined twice.
func Alias(fs *pflag.FlagSet, name, short string) { alias(fs, name, name+"-"+short, short) }

// AliasName makes --long another name of the flag name, like Alias.
func AliasName(fs *pflag.FlagSet, name, long string) { alias(fs, name, long, "") }

func alias(fs *pflag.FlagSet, name, long, short string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("cliflag: alias of undefined flag --" + name)
	}
	a := fs.VarPF(f.Value, long, short, "alias of --"+name)
	a.NoOptDefVal = f.NoOptDefVal
	a.Hidden = true
	a.Annotations = map[string][]string{aliasOf: {name}}
}

// ErrorText rewrites an error of pflag's Parse for people: the flag,
// the value given, what is wrong with it and what would be right, instead
// of Go's wording (invalid argument "abc" for "--retries" flag:
// strconv.ParseInt: parsing "abc": invalid syntax). Other errors (unknown
// flag, missing value) are returned as they are.
func ErrorText(err error) string {
	var ive *pflag.InvalidValueError
	if !errors.As(err, &ive) || ive.GetFlag() == nil {
		return err.Error()
	}
	f := ive.GetFlag()
	long := f.Name
	if orig := f.Annotations[aliasOf]; len(orig) == 1 {
		long = orig[0]
	}
	name := "--" + long
	if f.Shorthand != "" {
		name = "-" + f.Shorthand + "/--" + long
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
