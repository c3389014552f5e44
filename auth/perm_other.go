//go:build !unix

package auth

import "io/fs"

// checkPerm does nothing: outside Unix, file modes do not describe who may
// read a file (Windows has ACLs).
func checkPerm(path string, mode fs.FileMode) error { return nil }
