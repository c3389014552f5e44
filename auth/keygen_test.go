package auth

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestKeyFileLifecycle: a new file, a staged key, a rotation, each read
// back from the file; a second new file and a second stage fail and leave
// the file as it was.
func TestKeyFileLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lan.key")
	kr, err := CreateKeyFile(path, 7, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := roles(t, path); got != "current 7" || roleString(kr) != got {
		t.Fatalf("new file: %q, returned %q", got, roleString(kr))
	}
	first := kr.Keys()[0].Secret
	if _, err := CreateKeyFile(path, 7, false); !errors.Is(err, os.ErrExist) {
		t.Errorf("new file over an existing one: %v, want ErrExist", err)
	}
	if kr, err = CreateKeyFile(path, 7, true); err != nil || kr.Keys()[0].Secret == first {
		t.Fatalf("overwrite: %v, or the secret stayed", err)
	}
	cur := kr.Keys()[0].Secret

	if kr, err = StageKeyFile(path); err != nil {
		t.Fatal(err)
	}
	if got := roles(t, path); got != "current 7, next 8" || roleString(kr) != got {
		t.Fatalf("staged: %q, returned %q", got, roleString(kr))
	}
	next := kr.Keys()[1].Secret
	before, _ := os.ReadFile(path)
	if _, err := StageKeyFile(path); err == nil {
		t.Error("second stage succeeded")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a failed stage changed the file")
	}

	if kr, err = RotateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	if got := roles(t, path); got != "current 8, previous 7" || roleString(kr) != got {
		t.Fatalf("rotated: %q, returned %q", got, roleString(kr))
	}
	if k := kr.Keys(); k[0].Secret != next || k[1].Secret != cur {
		t.Error("rotation did not promote the staged key")
	}
	if kr, err = RotateKeyFile(path); err != nil || roleString(kr) != "current 9, previous 8" {
		t.Errorf("rotation without a staged key: %v, %v", kr, err)
	}

	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := StageKeyFile(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stage of a missing file: %v", err)
	}
	if _, err := RotateKeyFile(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rotation of a missing file: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Error("a failed rotation created the file")
	}
}

func roles(t *testing.T, path string) string {
	t.Helper()
	kr, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return roleString(kr)
}

func roleString(kr *Keyring) string {
	var b bytes.Buffer
	for i, k := range kr.Keys() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%v %d", k.Role, k.ID)
	}
	return b.String()
}
