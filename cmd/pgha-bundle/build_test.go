package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
)

func TestBuildCommand(t *testing.T) {
	dir := t.TempDir()
	pkgs := filepath.Join(dir, "rpms")
	if err := os.Mkdir(pkgs, 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := fixture.NewKey("cli test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "KEY")
	writeFile(t, keyFile, string(key.ArmoredPublic()))
	if _, err := fixture.WriteSet(pkgs, fixture.EL7Components(), key); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "cluster.yaml")
	writeFile(t, spec, string(cluster.Example()))
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, strings.Replace(strings.Replace(string(cluster.Example()),
		"address: 192.168.0.83", "address: 127.0.0.1", 1), "ttl: 30", "ttl: 25", 1))
	out := filepath.Join(dir, "out")

	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    []string
		stderr    []string
		notStderr string
	}{
		{"builds", []string{"build", "-f", spec, "--packages", pkgs, "--key", keyFile, "--out", out}, 0,
			[]string{"==> verify packages", "signature verified", "==> node co7-node03", "of 3 nodes in " + filepath.Join(out, "pgcluster")}, nil, ""},
		{"every spec error with its position", []string{"build", "-f", bad, "--packages", pkgs, "--key", keyFile, "--out", out}, 2,
			nil, []string{bad + ":", "127.0.0.1", "loop_wait", "build stopped: 3 spec errors; the previous output is unchanged"}, ""},
		{"wrong key", []string{"build", "-f", spec, "--packages", pkgs, "--key", spec, "--out", out}, 2,
			nil, []string{"build failed; the previous output is unchanged"}, ""},
		{"stray argument", []string{"build", "extra"}, 2, nil, []string{"build takes no arguments"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(out, "pgcluster", "manifest.json")); err != nil {
		t.Fatalf("the good build's output is gone after failed builds: %v", err)
	}
}
