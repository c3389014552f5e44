package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServiceUnit checks contrib/udpserver.service with systemd-analyze
// verify, which needs no running systemd (it works in a container whose
// PID 1 is not systemd). verify also checks that ExecStart's binary exists,
// so the copy it checks points at this test's own executable.
func TestServiceUnit(t *testing.T) {
	b, err := os.ReadFile("../../contrib/udpserver.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"\nDynamicUser=yes\n", "\nRestart=on-failure\n", "\nRestartPreventExitStatus=2\n",
		"\nStandardError=journal\n", "\nCapabilityBoundingSet=\n", "\nExecStart=/usr/local/bin/udpserver "} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(unit, "\nAmbientCapabilities=") {
		t.Error("AmbientCapabilities is set, but the default ports are above 1024")
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd): unit not verified")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "udpserver.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/udpserver", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		// Unknown keys are only warnings: any output is a failure here.
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
