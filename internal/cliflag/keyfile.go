package cliflag

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/auth"
)

// KeyFile defines the --key-file flag that every command talking to udpkit
// peers takes, and returns the function that loads the keys once the flags
// are parsed: from the flag's file, else the file $UDPKIT_KEY_FILE names,
// else the text of $UDPKIT_KEY (auth.Load). It returns a nil keyring when
// none of them is set: the command then runs without authentication. Its
// errors, prefixed "--key-file: ", wrap auth.Load's.
func KeyFile(fs *pflag.FlagSet) func() (keys *auth.Keyring, source string, err error) {
	path := fs.String("key-file", "", "authenticate every message with the keys of this key file (udpcli keygen); default $"+auth.EnvKeyFile+", or the key file text in $"+auth.EnvKey)
	return func() (*auth.Keyring, string, error) {
		kr, src, err := auth.Load(*path, os.Getenv)
		if err != nil {
			return nil, "", fmt.Errorf("--key-file: %w", err)
		}
		return kr, src, nil
	}
}
