// Package manpage writes man(7) pages from a command's --help text and its
// pflag flag set, so that the man pages of udpcli and udpserver say exactly
// what --help says.
//
// The help text is read the way udpkit's commands write it: a first line
// "Usage: ..." (or a "Usage:" line followed by indented synopsis lines),
// paragraphs separated by blank lines, indented lines as examples, and
// lines ending in ":" (Examples:, Exit status:) as subsection headings.
package manpage

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/errwriter"
)

// Page is one manual page.
type Page struct {
	Name    string // "udpcli-send"
	Section int    // 1
	Summary string // one line for NAME
	Help    string // the --help text before the flag list
	Flags   *pflag.FlagSet
	Version string   // footer: "udpkit v1.2.0"
	SeeAlso []string // "udpcli(1)"
}

// Write writes p in man(7) format.
func (p Page) Write(w io.Writer) error {
	ew := &errwriter.Writer{W: w}
	fmt.Fprintf(ew, ".TH %s %d \"\" %s \"User Commands\"\n", strings.ToUpper(p.Name), p.Section, quote(p.Version))
	fmt.Fprintf(ew, ".SH NAME\n%s \\- %s\n", esc(p.Name), esc(p.Summary))
	synopsis, body := splitUsage(p.Help)
	if len(synopsis) > 0 {
		fmt.Fprint(ew, ".SH SYNOPSIS\n.nf\n")
		for _, l := range synopsis {
			fmt.Fprintln(ew, escLine(l))
		}
		fmt.Fprint(ew, ".fi\n")
	}
	if strings.TrimSpace(body) != "" {
		fmt.Fprint(ew, ".SH DESCRIPTION\n")
		writeBody(ew, body)
	}
	if p.Flags != nil && p.Flags.HasAvailableFlags() {
		fmt.Fprint(ew, ".SH OPTIONS\n")
		p.Flags.VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			varname, help := pflag.UnquoteUsage(f)
			head := "\\fB\\-\\-" + esc(f.Name) + "\\fR"
			if f.Shorthand != "" {
				head = "\\fB\\-" + esc(f.Shorthand) + "\\fR, " + head
			}
			if varname != "" && f.NoOptDefVal == "" {
				head += " \\fI" + esc(varname) + "\\fR"
			}
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && f.DefValue != "0" {
				help += " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(ew, ".TP\n%s\n%s\n", head, escLine(help))
		})
	}
	if len(p.SeeAlso) > 0 {
		var refs []string
		for _, s := range p.SeeAlso {
			if name, sec, ok := strings.Cut(strings.TrimSuffix(s, ")"), "("); ok {
				refs = append(refs, "\\fB"+esc(name)+"\\fR("+sec+")")
			}
		}
		fmt.Fprintf(ew, ".SH SEE ALSO\n%s\n", strings.Join(refs, ", "))
	}
	return ew.Err()
}

// splitUsage separates the synopsis ("Usage: ..." and its continuation
// lines) from the rest of the help.
func splitUsage(help string) (synopsis []string, body string) {
	lines := strings.Split(strings.TrimRight(help, "\n"), "\n")
	// The help may start with a one-line summary before "Usage:".
	start := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "Usage:") {
			start = i
			break
		}
		if i > 3 {
			return nil, help
		}
	}
	if !strings.HasPrefix(lines[start], "Usage:") {
		return nil, help
	}
	pre := strings.Join(lines[:start], "\n")
	first := strings.TrimSpace(strings.TrimPrefix(lines[start], "Usage:"))
	if first != "" {
		synopsis = append(synopsis, first)
	}
	i := start + 1
	for ; i < len(lines) && strings.HasPrefix(lines[i], "  ") && strings.TrimSpace(lines[i]) != ""; i++ {
		synopsis = append(synopsis, strings.TrimSpace(lines[i]))
	}
	return synopsis, strings.TrimSpace(pre + "\n\n" + strings.Join(lines[i:], "\n"))
}

// writeBody writes paragraphs, indented example blocks and headings.
func writeBody(w io.Writer, body string) {
	inExample := false
	para := false
	for _, l := range strings.Split(body, "\n") {
		switch {
		case strings.TrimSpace(l) == "":
			if inExample {
				fmt.Fprint(w, ".fi\n.RE\n")
				inExample = false
			}
			para = false
		case strings.HasPrefix(l, " "):
			if !inExample {
				fmt.Fprint(w, ".PP\n.RS 4\n.nf\n")
				inExample = true
			}
			fmt.Fprintln(w, escLine(strings.TrimPrefix(l, "  ")))
		case strings.HasSuffix(l, ":") && !para && !strings.Contains(l, ". "):
			if inExample {
				fmt.Fprint(w, ".fi\n.RE\n")
				inExample = false
			}
			fmt.Fprintf(w, ".SS %s\n", esc(strings.TrimSuffix(l, ":")))
		default:
			if inExample {
				fmt.Fprint(w, ".fi\n.RE\n")
				inExample = false
			}
			if !para {
				fmt.Fprint(w, ".PP\n")
				para = true
			}
			fmt.Fprintln(w, escLine(l))
		}
	}
	if inExample {
		fmt.Fprint(w, ".fi\n.RE\n")
	}
}

// esc escapes roff's special characters in text: backslashes and
// hyphens (a plain - may be typeset as a hyphen, which breaks copy and
// paste of flags).
func esc(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`, "`", "").Replace(s)
}

// escLine escapes a line of text, also when it starts with a control
// character.
func escLine(s string) string {
	s = esc(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func quote(s string) string { return `"` + strings.ReplaceAll(esc(s), `"`, `\(dq`) + `"` }

// WriteDir writes each page into dir (made if missing) as NAME.SECTION
// and returns the files' paths, those written before an error included.
func WriteDir(dir string, pages []Page) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, p := range pages {
		var b bytes.Buffer
		if err := p.Write(&b); err != nil {
			return files, err
		}
		path := filepath.Join(dir, p.Name+"."+strconv.Itoa(p.Section))
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return files, err
		}
		files = append(files, path)
	}
	return files, nil
}
