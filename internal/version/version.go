// Package version reports the module version a udpkit binary was built
// from, for --version and the logs.
package version

import "runtime/debug"

// String returns the module version the binary was built from, or
// "(devel)" for a build from a source tree.
func String() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
