package completion

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// tool is a small program: a command with a value flag, a repeatable
// interface flag and a boolean, one with subcommands, one taking shells.
func tool() Program {
	get := pflag.NewFlagSet("get", pflag.ContinueOnError)
	get.IntP("count", "c", 1, "send `N` requests; 0: forever")
	get.StringArrayP("iface", "I", nil, "use interface `SPEC` (repeatable)")
	get.Bool("json", false, "write JSON [one object]")
	get.String("secret", "", "hidden")
	get.MarkHidden("secret")
	put := pflag.NewFlagSet("grp put", pflag.ContinueOnError)
	put.Int("ttl", 1, "hop limit")
	return Program{Name: "tool", Ifaces: []string{"iface"}, Commands: []Command{
		{Name: "get", Summary: "get things", Flags: get},
		{Name: "grp", Summary: "group commands", Flags: pflag.NewFlagSet("grp", pflag.ContinueOnError),
			Subs: []Command{{Name: "grp put", Summary: "put into a group", Flags: put}}},
		{Name: "completion", Summary: "print a script", Flags: pflag.NewFlagSet("completion", pflag.ContinueOnError), Args: ArgsShells},
	}}
}

func script(t *testing.T, shell string) string {
	t.Helper()
	var b bytes.Buffer
	if err := tool().Write(&b, shell); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestFlags(t *testing.T) {
	got := Flags(tool().Commands[0].Flags, []string{"iface"})
	want := []Flag{
		{Long: "count", Short: "c", Value: true, Varname: "N", Help: "send N requests; 0: forever"},
		{Long: "iface", Short: "I", Value: true, Repeatable: true, Varname: "SPEC", Help: "use interface SPEC (repeatable)", Iface: true},
		{Long: "json", Help: "write JSON [one object]"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("flag %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if k := Key("grp put"); k != "grp-put" {
		t.Errorf("Key: %q", k)
	}
	if n := len(Flatten(tool().Commands)); n != 4 {
		t.Errorf("Flatten: %d commands, want 4", n)
	}
}

// TestBash drives the script in a real bash as TAB would.
func TestBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	path := filepath.Join(t.TempDir(), "tool.bash")
	if err := os.WriteFile(path, []byte(script(t, "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	driver := `source "$1"
complete -p tool
c() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); _tool; echo "$*|${COMPREPLY[*]}"; }
c tool g
c tool get -
c tool get -c ''
c tool get -I ''
c tool grp ''
c tool grp put --t
c tool completion ''
c tool help co
`
	out, err := exec.Command(bash, "--norc", "--noprofile", "-c", driver, "bash", path).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if lines[0] != "complete -F _tool tool" {
		t.Errorf("complete -p: %q", lines[0])
	}
	got := map[string]string{}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, "|")
		got[k] = v
	}
	for words, want := range map[string]string{
		"tool g":           "get grp",
		"tool get -":       "--count -c --iface -I --json --help",
		"tool get -c ":     "",
		"tool grp ":        "put --help",
		"tool grp put --t": "--ttl",
		"tool completion ": "bash zsh fish",
		"tool help co":     "completion",
	} {
		if got[words] != want {
			t.Errorf("%q: completes to %q, want %q", words, got[words], want)
		}
	}
	if !strings.Contains(" "+got["tool get -I "]+" ", " lo ") {
		t.Errorf("-I does not complete interface names: %q", got["tool get -I "])
	}
}

// TestFish asks a real fish for completions (complete -C).
func TestFish(t *testing.T) {
	fish, err := exec.LookPath("fish")
	if err != nil {
		t.Skip("fish not installed (Debian package fish)")
	}
	path := filepath.Join(t.TempDir(), "tool.fish")
	if err := os.WriteFile(path, []byte(script(t, "fish")), 0o644); err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string]string{
		"tool ge":           "get",
		"tool grp p":        "put",
		"tool grp put --t":  "--ttl",
		"tool get --co":     "--count",
		"tool completion z": "zsh",
	} {
		out, err := exec.Command(fish, "--no-config", "-c", "source $argv[1]; complete -C $argv[2]", path, line).CombinedOutput()
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

// TestZsh: zsh parses the script and it registers with compinit.
func TestZsh(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("zsh not installed (Debian package zsh)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "_tool")
	if err := os.WriteFile(path, []byte(script(t, "zsh")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(zsh, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	out, err := exec.Command(zsh, "-f", "-c", `autoload -U compinit && compinit -u -d "$2/zcompdump" && source "$1" && print -r -- $_comps[tool]`, "zsh", path, dir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "_tool" {
		t.Errorf("zsh did not register the completion: %v\n%s", err, out)
	}
}

// TestEveryFlagEveryShell: each visible flag is in each script, the
// hidden one in none, and no placeholder is left.
func TestEveryFlagEveryShell(t *testing.T) {
	for _, sh := range Shells {
		s := script(t, sh)
		for _, f := range []string{"count", "iface", "json", "ttl"} {
			want := "--" + f
			if sh == "fish" {
				want = "-l " + f
			}
			if !strings.Contains(s, want) {
				t.Errorf("%s script lacks %s", sh, want)
			}
		}
		if strings.Contains(s, "secret") || strings.Contains(s, "{{prog}}") {
			t.Errorf("%s script has a hidden flag or a placeholder:\n%s", sh, s)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

func TestWriteErrors(t *testing.T) {
	if err := tool().Write(failWriter{}, "bash"); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("write error: %v", err)
	}
	var b bytes.Buffer
	if err := tool().Write(&b, "tcsh"); !errors.Is(err, ErrUnknownShell) || b.Len() > 0 {
		t.Errorf("tcsh: %v, %d bytes written", err, b.Len())
	}
}
