package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const (
	hexA = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	hexB = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	b64B = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=" // hexB in base64
)

func TestParseKeyFile(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		current uint16
		ids     []uint16 // current first
		err     string   // substring of the error; "" for success
	}{
		{"one key", "current 1 " + hexA + "\n", 1, []uint16{1}, ""},
		{"no final newline", "current 1 " + hexA, 1, []uint16{1}, ""},
		{"comments and blanks", "# keys\n\n  current 65535 " + hexA + "  # the new one\r\n", 65535, []uint16{65535}, ""},
		{"base64", "current 0 " + b64B, 0, []uint16{0}, ""},
		{"base64 raw url", "current 0 " + strings.TrimRight(b64B, "="), 0, []uint16{0}, ""},
		{"rotation", "previous 1 " + hexA + "\ncurrent 2 " + hexB + "\n", 2, []uint16{2, 1}, ""},
		{"staged", "current 2 " + hexB + "\nnext 3 " + hexA + "\n", 2, []uint16{2, 3}, ""},
		{"upper-case hex", "current 1 " + strings.ToUpper(hexA), 1, []uint16{1}, ""},
		{"empty", "", 0, nil, "no key in it"},
		{"only comments", "# nothing\n", 0, nil, "no key in it"},
		{"no current", "previous 1 " + hexA, 0, nil, "no current key"},
		{"two current", "current 1 " + hexA + "\ncurrent 2 " + hexB, 0, nil, "more than one current key"},
		{"two previous", "current 3 " + hexA + "\nprevious 1 " + hexB + "\nprevious 2 " + strings.Repeat("11", 32), 0, nil, "more than one previous key"},
		{"same ID", "current 1 " + hexA + "\nprevious 1 " + hexB, 0, nil, "key ID 1 used twice"},
		{"same secret", "current 1 " + hexA + "\nprevious 2 " + hexA, 0, nil, "same secret"},
		{"zero secret", "current 1 " + strings.Repeat("0", 64), 0, nil, "all-zero secret"},
		{"bad role", "primary 1 " + hexA, 0, nil, `line 1: role "primary"`},
		{"ID too large", "current 65536 " + hexA, 0, nil, "not a number from 0 to 65535"},
		{"negative ID", "current -1 " + hexA, 0, nil, "not a number"},
		{"hex ID", "current 0x1 " + hexA, 0, nil, "not a number"},
		{"short secret", "current 1 " + hexA[:62], 0, nil, "62 characters"},
		{"long secret", "current 1 " + hexA + "00", 0, nil, "66 characters"},
		{"not hex", "current 1 " + strings.Repeat("zz", 32), 0, nil, "neither 64 hex digits nor base64"},
		{"base64 of 31 bytes", "current 1 " + "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", 0, nil, "neither 64 hex digits nor base64"},
		{"missing secret", "current 1", 0, nil, "got 2 fields"},
		{"extra field", "current 1 " + hexA + " x", 0, nil, "line 1: want ROLE ID SECRET, got 4 fields"},
		{"error names the line", "# a\ncurrent 1 " + hexA + "\nbogus\n", 0, nil, "line 3:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := ParseKeyFile([]byte(tt.text))
			if tt.err != "" {
				if err == nil || !errors.Is(err, ErrKeyFile) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want ErrKeyFile containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kr.Current() != tt.current {
				t.Errorf("current = %d, want %d", kr.Current(), tt.current)
			}
			var ids []uint16
			for _, k := range kr.Keys() {
				ids = append(ids, k.ID)
			}
			if !equalIDs(ids, tt.ids) {
				t.Errorf("ids = %v, want %v", ids, tt.ids)
			}
			// Marshal and parse again: the same keys.
			again, err := ParseKeyFile(kr.Marshal())
			if err != nil {
				t.Fatalf("re-parse: %v\n%s", err, kr.Marshal())
			}
			if !equalKeys(again.Keys(), kr.Keys()) {
				t.Errorf("round trip changed the keys")
			}
		})
	}
}

func equalIDs(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalKeys(a, b []Key) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSecretEncodings(t *testing.T) {
	for _, s := range []string{hexB, b64B, strings.TrimRight(b64B, "="),
		strings.NewReplacer("+", "-", "/", "_").Replace(b64B)} {
		got, err := decodeSecret(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		want, _ := decodeSecret(hexB)
		if got != want {
			t.Errorf("%s decoded to %x", s, got)
		}
	}
}

func TestRotateAndStage(t *testing.T) {
	kr, err := ParseKeyFile([]byte("current 1 " + hexA))
	if err != nil {
		t.Fatal(err)
	}
	// Rotate without a staged key: a new key 2 becomes current, 1 previous.
	r1, err := kr.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	keys := r1.Keys()
	if len(keys) != 2 || keys[0].ID != 2 || keys[0].Role != RoleCurrent || keys[1].ID != 1 || keys[1].Role != RolePrevious || keys[1].Secret != kr.Keys()[0].Secret {
		t.Fatalf("after rotate: %v", ids(keys))
	}
	// Stage then rotate: the staged key is the one that becomes current.
	s, err := r1.Stage()
	if err != nil {
		t.Fatal(err)
	}
	staged := s.Keys()[2]
	if staged.ID != 3 || staged.Role != RoleNext || s.Current() != 2 {
		t.Fatalf("after stage: %v", ids(s.Keys()))
	}
	if _, err := s.Stage(); err == nil {
		t.Error("staging twice succeeded")
	}
	r2, err := s.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	keys = r2.Keys()
	if len(keys) != 2 || keys[0].ID != 3 || keys[0].Secret != staged.Secret || keys[1].ID != 2 || keys[1].Role != RolePrevious {
		t.Fatalf("after stage+rotate: %v", ids(keys))
	}
	// IDs wrap and skip those in use.
	w, err := ParseKeyFile([]byte("current 65535 " + hexA + "\nprevious 0 " + hexB))
	if err != nil {
		t.Fatal(err)
	}
	w2, err := w.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if w2.Current() != 1 {
		t.Errorf("rotated from 65535 with 0 in use to %d, want 1", w2.Current())
	}
}

func ids(keys []Key) []string {
	var s []string
	for _, k := range keys {
		s = append(s, fmt.Sprintf("%v %d", k.Role, k.ID))
	}
	return s
}

func TestWriteAndLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "udpkit.key")
	k, err := GenerateKey(5, RoleCurrent)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, kr, false); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", st.Mode().Perm())
	}
	if err := WriteFile(path, kr, false); !errors.Is(err, os.ErrExist) {
		t.Errorf("second write without overwrite: %v, want ErrExist", err)
	}
	got, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !equalKeys(got.Keys(), kr.Keys()) {
		t.Error("loaded keys differ from written ones")
	}
	rot, err := kr.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, rot, true); err != nil {
		t.Fatal(err)
	}
	got, err = LoadFile(path)
	if err != nil || got.Current() != 6 {
		t.Fatalf("after overwrite: %v, %v", got, err)
	}
	if st, _ := os.Stat(path); runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("mode after overwrite %04o, want 0600", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files in the directory, want 1 (temporary file left?)", len(ents))
	}
	if runtime.GOOS == "windows" {
		return
	}
	for _, mode := range []os.FileMode{0o644, 0o604, 0o660, 0o666} {
		os.Chmod(path, mode)
		if _, err := LoadFile(path); !errors.Is(err, ErrKeyFilePerm) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v, want ErrKeyFilePerm", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o400, 0o600, 0o640} {
		os.Chmod(path, mode)
		if _, err := LoadFile(path); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	if _, err := LoadFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k")
	if err := os.WriteFile(path, []byte("current 3 "+hexA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		path    string
		env     map[string]string
		current int // -1: no keyring
		source  string
		err     string
	}{
		{"nothing", "", nil, -1, "", ""},
		{"flag", path, nil, 3, path, ""},
		{"flag wins over env", path, map[string]string{EnvKey: "current 9 " + hexB}, 3, path, ""},
		{"env file", "", map[string]string{EnvKeyFile: path}, 3, "$UDPKIT_KEY_FILE (" + path + ")", ""},
		{"env text", "", map[string]string{EnvKey: "current 9 " + hexB + ";previous 3 " + hexA}, 9, "$UDPKIT_KEY", ""},
		// A whole key file as keygen writes it: its comments hold ';'.
		{"env file text", "", map[string]string{EnvKey: "# udpkit key file (udpcli keygen). Keep it secret: mode 0600.\n" +
			"# ROLE ID SECRET: current signs and verifies; previous and next only verify.\ncurrent 9 " + hexB + "\n"}, 9, "$UDPKIT_KEY", ""},
		{"env text comment", "", map[string]string{EnvKey: "current 9 " + hexB + " # signs; verifies;previous 3 " + hexA}, 9, "$UDPKIT_KEY", ""},
		{"env both", "", map[string]string{EnvKey: "current 9 " + hexB, EnvKeyFile: path}, -1, "", "both"},
		{"env text bad", "", map[string]string{EnvKey: "current 9"}, -1, "", "$UDPKIT_KEY"},
		{"flag missing file", filepath.Join(dir, "nope"), nil, -1, "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, source, err := Load(tt.path, env(tt.env))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.current < 0 {
				if kr != nil {
					t.Fatalf("got a keyring from nothing")
				}
				return
			}
			if kr == nil || int(kr.Current()) != tt.current || source != tt.source {
				t.Fatalf("got %v from %q, want current %d from %q", kr, source, tt.current, tt.source)
			}
		})
	}
}

func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte("current 1 " + hexA + "\nprevious 2 " + b64B + "\n"))
	f.Add([]byte("# c\nnext 3 " + hexB + "\ncurrent 1 " + hexA))
	f.Add([]byte("current 1 " + strings.Repeat("0", 64)))
	f.Fuzz(func(t *testing.T, text []byte) {
		kr, err := ParseKeyFile(text)
		if err != nil {
			if !errors.Is(err, ErrKeyFile) {
				t.Fatalf("error %v is not ErrKeyFile", err)
			}
			return
		}
		again, err := ParseKeyFile(kr.Marshal())
		if err != nil || !equalKeys(again.Keys(), kr.Keys()) {
			t.Fatalf("Marshal does not round-trip: %v", err)
		}
	})
}
