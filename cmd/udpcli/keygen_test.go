package main

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udpkit/udpkit/auth"
)

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lan.key")
	load := func() *auth.Keyring {
		t.Helper()
		kr, err := auth.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	out, errs, code := runCLI(t, "", "keygen", "--id", "7", path)
	if code != 0 || out != "wrote "+path+": current key 7\n" {
		t.Fatalf("exit %d, out %q, err %q", code, out, errs)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	first := load().Keys()[0]
	if strings.Contains(out, hex.EncodeToString(first.Secret[:4])) {
		t.Error("the secret was printed")
	}

	if _, errs, code := runCLI(t, "", "keygen", path); code != 2 || !strings.Contains(errs, "exists") {
		t.Errorf("over an existing file: exit %d, %q", code, errs)
	}
	if _, _, code := runCLI(t, "", "keygen", "--force", "--id", "7", path); code != 0 || load().Keys()[0].Secret == first.Secret {
		t.Errorf("--force: exit %d, or the secret did not change", code)
	}
	cur := load().Keys()[0]

	out, _, code = runCLI(t, "", "keygen", "--stage", path)
	if code != 0 || out != "wrote "+path+": current key 7, next key 8\n" {
		t.Fatalf("--stage: exit %d, %q", code, out)
	}
	next := load().Keys()[1]
	if _, errs, code := runCLI(t, "", "keygen", "--stage", path); code != 2 || !strings.Contains(errs, "already staged") {
		t.Errorf("second --stage: exit %d, %q", code, errs)
	}
	out, _, code = runCLI(t, "", "keygen", "--rotate", path)
	if code != 0 || out != "wrote "+path+": current key 8, previous key 7\n" {
		t.Fatalf("--rotate: exit %d, %q", code, out)
	}
	keys := load().Keys()
	if keys[0].Secret != next.Secret || keys[1].Secret != cur.Secret {
		t.Error("--rotate did not promote the staged key")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode after --rotate %v", st.Mode().Perm())
	}
	out, _, code = runCLI(t, "", "keygen", "--rotate", path)
	if code != 0 || out != "wrote "+path+": current key 9, previous key 8\n" {
		t.Fatalf("--rotate without a staged key: exit %d, %q", code, out)
	}

	// Standard output: a key file, nothing else.
	out, _, code = runCLI(t, "", "keygen", "--id", "3", "-")
	if kr, err := auth.ParseKeyFile([]byte(out)); code != 0 || err != nil || kr.Current() != 3 {
		t.Errorf("keygen -: exit %d, %v\n%s", code, err, out)
	}

	// A too-open file is refused, as the commands that read keys refuse it.
	os.Chmod(path, 0o644)
	if _, errs, code := runCLI(t, "", "keygen", "--rotate", path); code != 2 || !strings.Contains(errs, "chmod 600") {
		t.Errorf("--rotate of a 0644 file: exit %d, %q", code, errs)
	}

	for _, args := range [][]string{
		{"keygen"},
		{"keygen", "a", "b"},
		{"keygen", "--id", "65536", "x"},
		{"keygen", "--stage", "--rotate", path},
		{"keygen", "--rotate", "--id", "3", path},
		{"keygen", "--stage", "-"},
	} {
		if _, errs, code := runCLI(t, "", args...); code != 2 || !strings.Contains(errs, "Run 'udpcli keygen --help'") {
			t.Errorf("%q: exit %d, %q; want a usage error", args, code, errs)
		}
	}
	if _, _, code := runCLI(t, "", "keygen", filepath.Join(dir, "no", "such", "dir")); code != 2 {
		t.Errorf("unwritable path: exit %d", code)
	}
}
