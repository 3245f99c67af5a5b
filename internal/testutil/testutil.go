// Package testutil holds helpers shared by the tests: finding (and, as root,
// installing) the real tools that read our outputs, and golden files.
package testutil

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Update rewrites golden files instead of comparing: go test ./... -update
var Update = flag.Bool("update", false, "rewrite golden files under testdata/")

var aptMu sync.Mutex

// NeedTool returns the path of tool. When it is missing and we run as root it
// installs debPackage with apt-get; when it is still missing the test fails
// under CI=true and is skipped elsewhere, so CI can never pass without it.
func NeedTool(t testing.TB, tool, debPackage string) string {
	t.Helper()
	if p, err := exec.LookPath(tool); err == nil {
		return p
	}
	if os.Geteuid() == 0 && debPackage != "" {
		aptMu.Lock()
		if _, err := exec.LookPath(tool); err != nil {
			cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", debPackage)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Logf("apt-get install %s: %v\n%s", debPackage, err, out)
			}
		}
		aptMu.Unlock()
		if p, err := exec.LookPath(tool); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (Debian package %s) is required in CI and could not be found or installed", tool, debPackage)
	}
	t.Skipf("%s not found: install Debian package %s to run this test", tool, debPackage)
	return ""
}

// Golden compares got with testdata file path, or rewrites it under -update.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file %s: %v (run go test -update to create it)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update and review the diff)\n--- got ---\n%s", path, got)
	}
}

// SyncBuffer is a bytes.Buffer that a running command (or another
// goroutine) writes while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
