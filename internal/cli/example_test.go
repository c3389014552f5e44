package cli_test

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/cli"
)

func Example() {
	p := &cli.Program{Name: "greet", Help: "greet: say hello.\n\nCommands:\n{{commands}}", Version: "greet 1"}
	p.Commands = []*cli.Command{{Name: "hello", Summary: "greet someone", Usage: "Usage: greet hello NAME",
		Setup: func(fs *pflag.FlagSet) func(context.Context, cli.IO, []string) error {
			loud := fs.Bool("loud", false, "shout")
			return func(ctx context.Context, io cli.IO, args []string) error {
				if len(args) != 1 {
					return cli.Usagef("want one NAME")
				}
				greeting := "hello"
				if *loud {
					greeting = "HELLO"
				}
				fmt.Fprintln(io.Out, greeting, args[0])
				return nil
			}
		}}}
	sio := cli.IO{Out: os.Stdout, Err: os.Stdout}
	fmt.Println(p.Run(context.Background(), []string{"hello", "--loud", "world"}, sio))
	fmt.Println(p.Run(context.Background(), []string{"hello"}, sio))
	// Output:
	// HELLO world
	// 0
	// greet hello: want one NAME
	// Run 'greet hello --help' for usage.
	// 2
}
