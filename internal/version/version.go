// Package version reports what a udpkit binary was built from, for
// --version, the logs and udpkit_build_info.
//
// Without any stamping: 'go install github.com/udpkit/udpkit/cmd/...@v1.2.0'
// records the module version; a build in a git checkout records the
// revision (Go's VCS stamping); a build without either (-buildvcs=false,
// a source tarball) says so, with the Go version, so a bug report is never
// just "(devel)".
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// String returns the module version the binary was built from (v1.2.0,
// or a pseudo-version), or, for a build from a source tree, "devel" with
// the VCS revision when Go recorded it: "devel+3f2a1c9b7e10" (with
// "-dirty" for uncommitted changes).
func String() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "devel"
	}
	v := "devel+" + rev[:min(12, len(rev))]
	if modified == "true" {
		v += "-dirty"
	}
	return v
}

// Line is the --version output of command name: its version, the Go
// version, the platform, and, for a build from a source tree without VCS
// information, how to get a useful version.
//
//	udpcli v1.2.0 (go1.26.8 linux/amd64)
//	udpcli devel (go1.26.8 linux/amd64; built from a source tree without VCS information)
func Line(name string) string {
	v := String()
	extra := ""
	if v == "devel" {
		extra = "; built from a source tree without VCS information"
	}
	return fmt.Sprintf("%s %s (%s %s/%s%s)", name, v, runtime.Version(), runtime.GOOS, runtime.GOARCH, extra)
}
