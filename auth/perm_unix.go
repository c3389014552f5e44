//go:build unix

package auth

import "io/fs"

// checkPerm refuses group write and any access by others.
func checkPerm(path string, mode fs.FileMode) error {
	if mode.Perm()&0o027 != 0 {
		return permError(path, mode)
	}
	return nil
}
