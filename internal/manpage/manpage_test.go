package manpage

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

const help = `Usage: tool [flags] HOST:PORT

Sends things. A line that starts with a dot
.like this one must not become a roff request.

Examples:
  tool -c 3 127.0.0.1:9797
  tool --json \x

Exit status: 0 on success.`

func page() Page {
	fs := pflag.NewFlagSet("tool", pflag.ContinueOnError)
	fs.IntP("count", "c", 1, "send `N` datagrams")
	fs.Bool("json", false, "write JSON")
	fs.String("secret", "", "hidden")
	fs.MarkHidden("secret")
	return Page{Name: "tool", Section: 1, Summary: "send-things", Help: help, Flags: fs, Version: "udpkit v1.0.0", SeeAlso: []string{"udpcli(1)"}}
}

func TestWrite(t *testing.T) {
	var b bytes.Buffer
	if err := page().Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		".TH TOOL 1 \"\" \"udpkit v1.0.0\" \"User Commands\"\n",
		".SH NAME\ntool \\- send\\-things\n",
		".SH SYNOPSIS\n.nf\ntool [flags] HOST:PORT\n.fi\n",
		"\\&.like this one",
		".SS Examples\n.PP\n.RS 4\n.nf\ntool \\-c 3 127.0.0.1:9797\ntool \\-\\-json \\ex\n.fi\n.RE\n",
		".TP\n\\fB\\-c\\fR, \\fB\\-\\-count\\fR \\fIN\\fR\nsend N datagrams (default 1)\n",
		".TP\n\\fB\\-\\-json\\fR\nwrite JSON\n",
		".SH SEE ALSO\n\\fBudpcli\\fR(1)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret") {
		t.Error("hidden flag in the page")
	}
	if groff, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command(groff, "-k", "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(out)
		if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
			t.Errorf("groff: %v\n%s", err, msg)
		}
	}
}

func TestSplitUsage(t *testing.T) {
	syn, body := splitUsage("udpcli: a tool.\n\nUsage:\n  udpcli COMMAND [flags]\n  udpcli help\n\nCommands:\n  send  x")
	if len(syn) != 2 || syn[0] != "udpcli COMMAND [flags]" || syn[1] != "udpcli help" {
		t.Errorf("synopsis %q", syn)
	}
	if !strings.HasPrefix(body, "udpcli: a tool.") || !strings.Contains(body, "Commands:") {
		t.Errorf("body %q", body)
	}
	if syn, body := splitUsage("no usage line here"); syn != nil || body != "no usage line here" {
		t.Errorf("%q %q", syn, body)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	if err := page().Write(failWriter{}); err == nil || err.Error() != "disk full" {
		t.Errorf("got %v", err)
	}
}

func TestWriteDir(t *testing.T) {
	dir := t.TempDir() + "/man1"
	pages := []Page{{Name: "tool", Section: 1, Summary: "a tool", Help: "Usage: tool\n\nDoes things."},
		{Name: "tool-run", Section: 1, Summary: "run it", Help: "Usage: tool run"}}
	files, err := WriteDir(dir, pages)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0] != dir+"/tool.1" || files[1] != dir+"/tool-run.1" {
		t.Fatalf("files %v", files)
	}
	b, err := os.ReadFile(files[0])
	var want bytes.Buffer
	pages[0].Write(&want)
	if err != nil || !bytes.Equal(b, want.Bytes()) {
		t.Errorf("tool.1: %v\n%s", err, b)
	}
	if _, err := WriteDir(files[0]+"/sub", pages); err == nil {
		t.Error("WriteDir under a file: no error")
	}
}
