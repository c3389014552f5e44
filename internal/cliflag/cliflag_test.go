package cliflag

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestParseSeconds(t *testing.T) {
	for in, want := range map[string]time.Duration{"0.5": 500 * time.Millisecond, "200ms": 200 * time.Millisecond, "2": 2 * time.Second, "1m": time.Minute} {
		if got, err := ParseSeconds(in); err != nil || got != want {
			t.Errorf("ParseSeconds(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "x", "", "-5ms"} {
		if _, err := ParseSeconds(in); err == nil {
			t.Errorf("ParseSeconds(%q) succeeded", in)
		}
	}
}

func TestAlias(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	d := Seconds(fs, "timeout", "W", time.Second, "per-reply timeout")
	q := fs.Bool("quiet", false, "quiet")
	Alias(fs, "timeout", "t")
	Alias(fs, "quiet", "Q")
	AliasName(fs, "timeout", "wait")
	if err := fs.Parse([]string{"--wait", "3"}); err != nil || *d != 3*time.Second {
		t.Errorf("--wait: %v %v", *d, err)
	}
	if err := fs.Parse([]string{"-t", "0.25", "-Q"}); err != nil {
		t.Fatal(err)
	}
	if *d != 250*time.Millisecond || !*q {
		t.Errorf("timeout %v quiet %v", *d, *q)
	}
	if err := fs.Parse([]string{"-W", "2"}); err != nil || *d != 2*time.Second {
		t.Errorf("the flag itself: %v %v", *d, err)
	}
	err := fs.Parse([]string{"-t", "soon"})
	if got := ErrorText(err); !strings.HasPrefix(got, `-t/--timeout "soon": not a duration`) {
		t.Errorf("ErrorText = %q", got)
	}
	var help strings.Builder
	fs.SetOutput(&help)
	fs.PrintDefaults()
	if strings.Contains(help.String(), "-t,") || strings.Contains(help.String(), "alias") {
		t.Errorf("alias shown in --help:\n%s", help.String())
	}
}
