package auth

// The key file operations of `udpcli keygen`: a new file, a staged next
// key, a rotation. The command keeps its flags and output.

// NewKeyringID returns a keyring of one current key with key ID id and a
// secret from the system's random source: a new key file's content.
func NewKeyringID(id uint16) (*Keyring, error) {
	k, err := GenerateKey(id, RoleCurrent)
	if err != nil {
		return nil, err
	}
	return NewKeyring(k)
}

// CreateKeyFile writes a new key file at path (mode 0600) holding
// NewKeyringID(id) and returns its keyring. Unless overwrite is set it
// fails, with an error matching os.ErrExist, when path exists; with
// overwrite it replaces the file atomically (WriteFile).
func CreateKeyFile(path string, id uint16, overwrite bool) (*Keyring, error) {
	kr, err := NewKeyringID(id)
	if err != nil {
		return nil, err
	}
	if err := WriteFile(path, kr, overwrite); err != nil {
		return nil, err
	}
	return kr, nil
}

// StageKeyFile adds a new next key to the key file at path
// (Keyring.Stage), rewrites it atomically and returns the new keyring.
// The file is left as it was when a next key is staged already.
func StageKeyFile(path string) (*Keyring, error) {
	return updateKeyFile(path, (*Keyring).Stage)
}

// RotateKeyFile rotates the keys of the key file at path (Keyring.Rotate:
// the next key, or a new one, becomes current, the current one previous),
// rewrites it atomically and returns the new keyring.
func RotateKeyFile(path string) (*Keyring, error) {
	return updateKeyFile(path, (*Keyring).Rotate)
}

// updateKeyFile loads path, applies change and writes the result back.
func updateKeyFile(path string, change func(*Keyring) (*Keyring, error)) (*Keyring, error) {
	kr, err := LoadFile(path)
	if err != nil {
		return nil, err
	}
	if kr, err = change(kr); err != nil {
		return nil, err
	}
	if err := WriteFile(path, kr, true); err != nil {
		return nil, err
	}
	return kr, nil
}
