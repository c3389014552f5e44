package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/cli"
	"github.com/udpkit/udpkit/internal/completion"
	"github.com/udpkit/udpkit/internal/manpage"
	"github.com/udpkit/udpkit/internal/version"
)

func init() {
	app.Register(&cli.Command{
		Name:    "man",
		Summary: "write the manual pages (udpcli.1, udpcli-send.1, ...) into a directory",
		Usage:   helpText("man"),
		Setup: func(fs *pflag.FlagSet) func(ctx context.Context, io cli.IO, args []string) error {
			return func(ctx context.Context, io cli.IO, args []string) error {
				if len(args) != 1 {
					return cli.Usagef("want one directory")
				}
				files, err := writeManPages(args[0])
				if err != nil {
					return cli.Failed(err)
				}
				for _, f := range files {
					fmt.Fprintln(io.Out, f)
				}
				return nil
			}
		},
	})
}

// manPages returns every page: udpcli(1), then one per command and
// subcommand.
func manPages() []manpage.Page {
	v := "udpkit " + version.String()
	var help bytes.Buffer
	app.PrintHelp(&help)
	var see []string
	cmds := completion.Flatten(specs())
	for _, c := range cmds {
		see = append(see, "udpcli-"+completion.Key(c.Name)+"(1)")
	}
	pages := []manpage.Page{{Name: "udpcli", Section: 1, Summary: "send, ping, discover and test UDP services on the LAN",
		Help: help.String(), Version: v, SeeAlso: append(see, "udpserver(1)")}}
	for _, c := range cmds {
		pages = append(pages, manpage.Page{Name: "udpcli-" + completion.Key(c.Name), Section: 1, Summary: c.Summary,
			Help: c.Usage, Flags: c.Flags, Version: v, SeeAlso: []string{"udpcli(1)", "udpserver(1)"}})
	}
	return pages
}

// writeManPages writes manPages into dir and returns the files' paths.
func writeManPages(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, p := range manPages() {
		var b bytes.Buffer
		if err := p.Write(&b); err != nil {
			return files, err
		}
		path := filepath.Join(dir, p.Name+"."+fmt.Sprint(p.Section))
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return files, err
		}
		files = append(files, path)
	}
	return files, nil
}
