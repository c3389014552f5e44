package cliflag

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/udpkit/udpkit/auth"
)

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(path, []byte("current 4 "+
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(auth.EnvKeyFile, "")
	t.Setenv(auth.EnvKey, "")

	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	load := KeyFile(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if kr, _, err := load(); kr != nil || err != nil {
		t.Fatalf("nothing configured: %v, %v", kr, err)
	}
	t.Setenv(auth.EnvKeyFile, path)
	if kr, src, err := load(); err != nil || kr.Current() != 4 || src != "$UDPKIT_KEY_FILE ("+path+")" {
		t.Fatalf("from the environment: %v %q %v", kr, src, err)
	}

	fs = pflag.NewFlagSet("x", pflag.ContinueOnError)
	load = KeyFile(fs)
	if err := fs.Parse([]string{"--key-file", filepath.Join(t.TempDir(), "missing")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := load(); !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "--key-file: ") {
		t.Fatalf("missing file: %v", err)
	}
}
