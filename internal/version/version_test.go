package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	set := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tt := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"go install @version", debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, "v1.2.0"},
		{"pseudo-version", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201093000-3f2a1c9b7e10"}}, "v0.0.0-20261201093000-3f2a1c9b7e10"},
		{"git checkout", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: set("vcs.revision", "3f2a1c9b7e10aabbccdd", "vcs.modified", "false")}, "devel+3f2a1c9b7e10"},
		{"dirty checkout", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: set("vcs.revision", "3f2a1c9b7e10aabbccdd", "vcs.modified", "true")}, "devel+3f2a1c9b7e10-dirty"},
		{"no VCS stamping", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{"go run", debug.BuildInfo{}, "devel"},
	} {
		if got := fromBuildInfo(&tt.bi); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestLine(t *testing.T) {
	l := Line("udpcli")
	if !strings.HasPrefix(l, "udpcli ") || !strings.Contains(l, runtime.Version()) || !strings.Contains(l, runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("Line = %q", l)
	}
}
