package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/completion"
)

func runOut(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb}); code != cli.ExitOK {
		t.Fatalf("udpcli %v: exit %d: %s", args, code, errb.String())
	}
	return out.String()
}

// TestCompletionBash loads the script into a real bash and asks it for
// completions as the shell would on TAB.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	script := filepath.Join(t.TempDir(), "udpcli.bash")
	if err := os.WriteFile(script, []byte(runOut(t, "completion", "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	// c WORD... prints what TAB after the last word proposes.
	driver := `source "$1"
complete -p udpcli
c() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); _udpcli; echo "$*|${COMPREPLY[*]}"; }
c udpcli pi
c udpcli m
c udpcli ping --co
c udpcli ping -
c udpcli mcast ''
c udpcli mcast test --max
c udpcli mcast listen -c ''
c udpcli discover -I ''
c udpcli completion ''
c udpcli help wa
`
	out, err := exec.Command(bash, "--norc", "--noprofile", "-c", driver, "bash", script).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	got := map[string]string{}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if lines[0] != "complete -F _udpcli udpcli" {
		t.Errorf("complete -p: %q", lines[0])
	}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, "|")
		got[k] = v
	}
	for words, want := range map[string]string{
		"udpcli pi":               "ping",
		"udpcli m":                "mcast man",
		"udpcli ping --co":        "--count",
		"udpcli mcast ":           "listen send test --help",
		"udpcli mcast test --max": "--max-loss",
		"udpcli mcast listen -c ": "", // a value, not a flag
		"udpcli completion ":      "bash zsh fish",
		"udpcli help wa":          "watch",
	} {
		if got[words] != want {
			t.Errorf("%q: completes to %q, want %q", words, got[words], want)
		}
	}
	if !strings.Contains(" "+got["udpcli discover -I "]+" ", " lo ") {
		t.Errorf("-I does not complete interface names: %q", got["udpcli discover -I "])
	}
	for _, f := range []string{"--count", "-c", "--interval", "-i", "--json", "--help"} {
		if !strings.Contains(" "+got["udpcli ping -"]+" ", " "+f+" ") {
			t.Errorf("ping - lacks %s: %q", f, got["udpcli ping -"])
		}
	}
}

// TestCompletionFish asks a real fish for completions (complete -C).
func TestCompletionFish(t *testing.T) {
	fish, err := exec.LookPath("fish")
	if err != nil {
		t.Skip("fish not installed (Debian package fish)")
	}
	script := filepath.Join(t.TempDir(), "udpcli.fish")
	os.WriteFile(script, []byte(runOut(t, "completion", "fish")), 0o644)
	for line, want := range map[string]string{
		"udpcli pi":              "ping",
		"udpcli mcast te":        "test",
		"udpcli mcast test --ma": "--max-loss",
		"udpcli ping --cou":      "--count",
		"udpcli completion z":    "zsh",
	} {
		out, err := exec.Command(fish, "--no-config", "-c", "source $argv[1]; complete -C $argv[2]", script, line).CombinedOutput()
		if err != nil {
			t.Fatalf("fish: %v\n%s", err, out)
		}
		var first []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			c, _, _ := strings.Cut(l, "\t")
			first = append(first, c)
		}
		if len(first) != 1 || first[0] != want {
			t.Errorf("%q completes to %q, want %q", line, first, want)
		}
	}
}

// TestCompletionZsh checks that zsh parses the script and that it
// registers with compinit (driving zsh's completion system needs a
// terminal: not done here).
func TestCompletionZsh(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("zsh not installed (Debian package zsh)")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "_udpcli")
	os.WriteFile(script, []byte(runOut(t, "completion", "zsh")), 0o644)
	if out, err := exec.Command(zsh, "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	out, err := exec.Command(zsh, "-f", "-c", `autoload -U compinit && compinit -u -d "$2/zcompdump" && source "$1" && print -r -- $_comps[udpcli]`, "zsh", script, dir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "_udpcli" {
		t.Errorf("zsh did not register the completion: %v\n%s", err, out)
	}
}

// TestCompletionCoversEveryFlag: every flag of every command and
// subcommand is in every script.
func TestCompletionCoversEveryFlag(t *testing.T) {
	scripts := map[string]string{}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		scripts[sh] = runOut(t, "completion", sh)
	}
	n := 0
	for _, c := range completion.Flatten(program().Commands) {
		for _, f := range completion.Flags(c.Flags, program().Ifaces) {
			n++
			for sh, s := range scripts {
				want := "--" + f.Long
				if sh == "fish" {
					want = "-l " + f.Long
				}
				if !strings.Contains(s, want) {
					t.Errorf("%s script lacks %s of %s", sh, want, c.Name)
				}
			}
		}
	}
	if n < 40 {
		t.Errorf("only %d flags found: the flag sets were not collected", n)
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"completion", "tcsh"}, cli.IO{In: strings.NewReader(""), Out: &out, Err: &out}); code != cli.ExitUsage {
		t.Errorf("completion tcsh: exit %d", code)
	}
}

// TestManPages writes the pages, has groff check them, and checks that
// each documents every flag of its command.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	files := strings.Fields(runOut(t, "man", dir))
	if len(files) < 10 {
		t.Fatalf("%d pages: %v", len(files), files)
	}
	groff, gerr := exec.LookPath("groff")
	for _, f := range files {
		if gerr != nil {
			break
		}
		// -k: the text is UTF-8; -ww: every warning; -z: no output.
		out, err := exec.Command(groff, "-k", "-man", "-Tutf8", "-ww", "-z", f).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("groff %s: %v\n%s", f, err, out)
		}
	}
	if gerr != nil {
		t.Log("groff not installed: pages not checked for roff errors")
	}
	for _, c := range completion.Flatten(program().Commands) {
		b, err := os.ReadFile(filepath.Join(dir, "udpcli-"+completion.Key(c.Name)+".1"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range completion.Flags(c.Flags, program().Ifaces) {
			if !strings.Contains(string(b), `\-\-`+strings.ReplaceAll(f.Long, "-", `\-`)) {
				t.Errorf("page of %s lacks --%s", c.Name, f.Long)
			}
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestCompletionWriteError: a script that cannot be written is exit 1
// with the error, never a silent truncated script.
func TestCompletionWriteError(t *testing.T) {
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"completion", "bash"}, cli.IO{In: strings.NewReader(""), Out: failWriter{}, Err: &errb}); code != cli.ExitFailed || !strings.Contains(errb.String(), "no space left") {
		t.Errorf("exit %d, %q", code, errb.String())
	}
}

// TestVersion: --version is listed in the help and says which build it is
// even without VCS stamping.
func TestVersion(t *testing.T) {
	if h := runOut(t, "help"); !strings.Contains(h, "udpcli --version") {
		t.Errorf("help does not mention --version:\n%s", h)
	}
	for _, arg := range []string{"--version", "version"} {
		if v := runOut(t, arg); !strings.HasPrefix(v, "udpcli ") || !strings.Contains(v, "go1") {
			t.Errorf("%s: %q", arg, v)
		}
	}
}
