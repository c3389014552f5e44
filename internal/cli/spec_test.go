package cli

import (
	"strings"
	"testing"

	"github.com/udpkit/udpkit/internal/completion"
)

// TestSpec: every command and subcommand with its flags, in the table's
// order; ManPages makes one page per command after the program's own.
func TestSpec(t *testing.T) {
	p := testProgram()
	sp := p.Spec(map[string]completion.Args{"echo": completion.ArgsDirs}, []string{"iface"})
	var names []string
	for _, c := range completion.Flatten(sp.Commands) {
		names = append(names, c.Name)
		if c.Flags == nil {
			t.Errorf("%s: no flag set", c.Name)
		}
	}
	if sp.Name != "tool" || len(sp.Commands) == 0 || sp.Commands[0].Name != "echo" || sp.Commands[0].Args != completion.ArgsDirs {
		t.Errorf("Spec = %+v", sp)
	}
	if sp.Commands[0].Flags.Lookup("no-newline") == nil {
		t.Error("echo's spec lacks -n")
	}
	pages := p.ManPages(sp, "a test tool", "tool 1.0", "other(1)")
	if len(pages) != len(names)+1 || pages[0].Name != "tool" || !strings.Contains(pages[0].Help, "print the arguments") {
		t.Fatalf("%d pages for %v; first %+v", len(pages), names, pages[0])
	}
	for i, n := range names {
		pg := pages[i+1]
		if pg.Name != "tool-"+completion.Key(n) || pg.SeeAlso[0] != "tool(1)" || pg.SeeAlso[len(pg.SeeAlso)-1] != "other(1)" {
			t.Errorf("page %d: %+v", i+1, pg)
		}
	}
	if see := pages[0].SeeAlso; see[len(see)-1] != "other(1)" || len(see) != len(names)+1 {
		t.Errorf("tool(1) SEE ALSO %v", see)
	}
}
