package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

// TestBuildRefusesUnknownInstallArgs: an --install-arg that install.sh does
// not take stops the build before any work (no output, no secrets file),
// instead of seeds whose install.sh exits with its usage at first boot.
func TestBuildRefusesUnknownInstallArgs(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--install-arg", "--skip-os-checks"}, `"--skip-os-checks" is not an install.sh flag`},
		{"missing value", []string{"--install-arg", "--no-packages", "--install-arg", "--timeout-etcd"}, "--timeout-etcd needs a SECONDS after it"},
		{"bad value", []string{"--install-arg", "--pkg-tool", "--install-arg", "apt"}, `--pkg-tool "apt": want yum, dnf or rpm`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			spec := filepath.Join(dir, "cluster.yaml")
			writeFile(t, spec, string(cluster.Example()))
			out := filepath.Join(dir, "out")
			args := append([]string{"build", "-f", spec, "--packages", dir, "--out", out}, tc.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != 2 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "install.sh takes: --dry-run") {
				t.Fatalf("exit %d, want 2 and %q\nstdout:\n%s\nstderr:\n%s", code, tc.want, stdout, stderr)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("the refused build left files beside the spec: %v", entries)
			}
		})
	}
}
