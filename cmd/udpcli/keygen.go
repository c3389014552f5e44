package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/auth"
	"github.com/udpkit/udpkit/internal/cli"
)

func setupKeygen(fs *pflag.FlagSet) func(ctx context.Context, io cli.IO, args []string) error {
	id := fs.Uint16("id", 1, "key ID of the new key, 0 to 65535")
	force := fs.Bool("force", false, "replace FILE if it exists")
	stage := fs.Bool("stage", false, "add a new next key to the existing FILE")
	rotate := fs.Bool("rotate", false, "make FILE's next key (or a new one) current, the current one previous")
	return func(ctx context.Context, io cli.IO, args []string) error {
		if len(args) != 1 {
			return cli.Usagef("want one FILE, got %d arguments", len(args))
		}
		path := args[0]
		switch {
		case *stage && *rotate:
			return cli.Usagef("--stage and --rotate exclude each other")
		case (*stage || *rotate) && (fs.Changed("id") || *force):
			return cli.Usagef("--id and --force only apply to a new file, not with --stage or --rotate")
		case (*stage || *rotate) && path == "-":
			return cli.Usagef("--stage and --rotate change a FILE; \"-\" is not one")
		}
		var kr *auth.Keyring
		var err error
		switch {
		case *stage:
			kr, err = auth.StageKeyFile(path)
		case *rotate:
			kr, err = auth.RotateKeyFile(path)
		case path == "-":
			if kr, err = auth.NewKeyringID(*id); err != nil {
				return err
			}
			_, err = io.Out.Write(kr.Marshal())
			return err
		default:
			kr, err = auth.CreateKeyFile(path, *id, *force)
		}
		if err != nil {
			return err
		}
		var roles []string
		for _, k := range kr.Keys() {
			roles = append(roles, fmt.Sprintf("%v key %d", k.Role, k.ID))
		}
		fmt.Fprintf(io.Out, "wrote %s: %s\n", path, strings.Join(roles, ", "))
		return nil
	}
}
