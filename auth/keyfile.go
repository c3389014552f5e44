package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Environment variables that configure a key when no --key-file flag is
// given (see Load).
const (
	// EnvKeyFile names a key file.
	EnvKeyFile = "UDPKIT_KEY_FILE"
	// EnvKey holds the text of a key file itself; ';' separates lines as
	// well as a newline does, so that one line of shell sets it.
	EnvKey = "UDPKIT_KEY"
)

// ErrKeyFilePerm reports a key file that others than its owner may write
// or anyone outside its group may read.
var ErrKeyFilePerm = errors.New("auth: key file permissions too open")

// ParseKeyFile parses the text of a key file:
//
//	# udpkit key file: ROLE ID SECRET, one key a line
//	current 2 6f1c...(64 hex digits)
//	previous 1 Zm9vYmFy...(base64 of 32 bytes)
//
// ROLE is current, previous or next (see Role); ID is the key ID in decimal,
// 0 to 65535; SECRET is 32 bytes in hex (64 digits) or base64 (standard or
// URL alphabet, with or without padding). Blank lines and everything from a
// '#' to the end of its line are ignored. The keys must satisfy NewKeyring.
func ParseKeyFile(text []byte) (*Keyring, error) {
	var keys []Key
	for n, line := range bytes.Split(text, []byte("\n")) {
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		k, err := parseKeyLine(f)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrKeyFile, n+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key in it", ErrKeyFile)
	}
	return NewKeyring(keys...)
}

func parseKeyLine(f []string) (Key, error) {
	var k Key
	if len(f) != 3 {
		return k, fmt.Errorf("want ROLE ID SECRET, got %d fields", len(f))
	}
	switch f[0] {
	case "current":
		k.Role = RoleCurrent
	case "previous":
		k.Role = RolePrevious
	case "next":
		k.Role = RoleNext
	default:
		return k, fmt.Errorf("role %q is not current, previous or next", f[0])
	}
	id, err := strconv.ParseUint(f[1], 10, 16)
	if err != nil {
		return k, fmt.Errorf("key ID %q is not a number from 0 to 65535", f[1])
	}
	k.ID = uint16(id)
	secret, err := decodeSecret(f[2])
	if err != nil {
		return k, fmt.Errorf("key %d: %v", k.ID, err)
	}
	k.Secret = secret
	return k, nil
}

// decodeSecret decodes 32 bytes of hex or base64. The lengths tell them
// apart: 64 characters of hex, 43 or 44 of base64.
func decodeSecret(s string) ([SecretLen]byte, error) {
	var out [SecretLen]byte
	var b []byte
	var err error
	switch len(s) {
	case 2 * SecretLen:
		b, err = hex.DecodeString(s)
	case 43, 44:
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err = enc.Strict().DecodeString(s); err == nil {
				break
			}
		}
	default:
		return out, fmt.Errorf("secret is %d characters; want 32 bytes as 64 hex digits or 44 base64 characters", len(s))
	}
	if err != nil || len(b) != SecretLen {
		return out, errors.New("secret is neither 64 hex digits nor base64 of 32 bytes")
	}
	copy(out[:], b)
	return out, nil
}

// Marshal returns the key file text of kr: a comment, then one line per
// key, the current one first, secrets in hex.
func (kr *Keyring) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("# udpkit key file (udpcli keygen). Keep it secret: mode 0600, never in version control.\n")
	b.WriteString("# ROLE ID SECRET: current signs and verifies; previous and next only verify.\n")
	for _, k := range kr.Keys() {
		fmt.Fprintf(&b, "%s %d %s\n", k.Role, k.ID, hex.EncodeToString(k.Secret[:]))
	}
	return b.Bytes()
}

// LoadFile reads and parses a key file. On Unix it refuses a file that
// others than its owner may write, or that is readable outside its group
// (mode 0640 at most, 0600 recommended), as ssh refuses an open private
// key: a secret everyone can read authenticates nothing.
func LoadFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if err := checkPerm(path, st.Mode()); err != nil {
		return nil, err
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	kr, err := ParseKeyFile(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kr, nil
}

// Load returns the keyring a command is configured with: the key file at
// path when path is not empty, else the file named by $UDPKIT_KEY_FILE,
// else the text of $UDPKIT_KEY. getenv is os.Getenv outside tests. It
// returns a nil keyring and no error when none of them is set, and names
// where the keys came from in source. Setting both environment variables
// is an error: it is not clear which one was meant.
func Load(path string, getenv func(string) string) (kr *Keyring, source string, err error) {
	if path != "" {
		kr, err = LoadFile(path)
		return kr, path, err
	}
	file, text := getenv(EnvKeyFile), getenv(EnvKey)
	switch {
	case file != "" && text != "":
		return nil, "", fmt.Errorf("%w: both $%s and $%s are set; unset one", ErrKeyFile, EnvKeyFile, EnvKey)
	case file != "":
		kr, err = LoadFile(file)
		return kr, "$" + EnvKeyFile + " (" + file + ")", err
	case text != "":
		kr, err = ParseKeyFile(envKeyText(text))
		if err != nil {
			return nil, "", fmt.Errorf("$%s: %w", EnvKey, err)
		}
		return kr, "$" + EnvKey, nil
	}
	return nil, "", nil
}

// envKeyText turns $UDPKIT_KEY into key file text: ';' ends a line as a
// newline does, outside comments only, so that the variable takes a whole
// key file (whose comments keygen writes with ';' in them) as well as one
// line of shell ("current 1 HEX; previous 0 HEX").
func envKeyText(text string) []byte {
	var b strings.Builder
	for line := range strings.Lines(text) {
		comment := ""
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line, comment = line[:i], line[i:]
		}
		b.WriteString(strings.ReplaceAll(line, ";", "\n"))
		b.WriteString(comment)
	}
	return []byte(b.String())
}

// WriteFile writes kr to path with mode 0600. Unless overwrite is set it
// fails when path exists; with overwrite it replaces the file atomically
// (a temporary file in the same directory, then a rename), so a reader
// never sees half a key file.
func WriteFile(path string, kr *Keyring, overwrite bool) error {
	text := kr.Marshal()
	if !overwrite {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		if _, err := f.Write(text); err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("auth: %w", err)
		}
		if err := f.Close(); err != nil {
			os.Remove(path)
			return fmt.Errorf("auth: %w", err)
		}
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".udpkit-key-*")
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("auth: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(text); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}

// permError builds the error for a too-open key file.
func permError(path string, mode fs.FileMode) error {
	return fmt.Errorf("%w: %s has mode %04o; run chmod 600 %s", ErrKeyFilePerm, path, mode.Perm(), path)
}
