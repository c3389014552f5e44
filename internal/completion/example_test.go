package completion_test

import (
	"os"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/internal/completion"
)

func ExampleProgram_Write() {
	fs := pflag.NewFlagSet("ping", pflag.ContinueOnError)
	fs.IntP("count", "c", 1, "send `N` pings")
	p := completion.Program{Name: "tool", Commands: []completion.Command{{Name: "ping", Summary: "ping a server", Flags: fs}}}
	if err := p.Write(os.Stdout, "fish"); err != nil {
		panic(err)
	}
}
