package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// runCLI runs the CLI in-process and returns exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"pgha-bundle"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, string(cluster.Example()))
	twoNodes := filepath.Join(dir, "two.yaml")
	writeFile(t, twoNodes, strings.SplitAfter(string(cluster.Example()), "address: 192.168.0.82\n")[0])
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, `apiVersion: pgha-bundle/v1
cluster:
  name: pg
  os: el9
nodes:
  - {name: a, address: 10.0.0.1}
  - {name: b, address: 10.0.0.1}
patroni:
  synchronus_mode: true
postgresql:
  parameters:
    wal_keep_segments: 8
`)
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderrFile string // golden, under testdata/; "" means empty
	}{
		{"valid", []string{"validate", "-f", good}, 0, good + ": valid: 3 nodes, 0 warnings\n", ""},
		{"warnings pass", []string{"validate", "-f", twoNodes}, 0, twoNodes + ": valid: 2 nodes, 2 warnings\n", "validate_two.stderr"},
		{"strict fails on warnings", []string{"validate", "--strict", "-f", twoNodes}, 2, twoNodes + ": invalid: 0 errors, 2 warnings\n", "validate_two.stderr"},
		{"errors", []string{"validate", "-f", bad}, 2, bad + ": invalid: 2 errors, 2 warnings\n", "validate_bad.stderr"},
		{"major", []string{"validate", "-f", bad, "--major", "13"}, 2, bad + ": invalid: 3 errors, 2 warnings\n", "validate_bad_major.stderr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != tt.code || out != tt.stdout {
				t.Errorf("exit %d, stdout %q; want %d, %q (stderr %q)", code, out, tt.code, tt.stdout, errOut)
			}
			errOut = strings.ReplaceAll(errOut, dir+"/", "DIR/")
			if tt.stderrFile == "" {
				if errOut != "" {
					t.Errorf("stderr: %q", errOut)
				}
				return
			}
			testutil.Golden(t, filepath.Join("testdata", tt.stderrFile), []byte(errOut))
		})
	}
}

func TestValidateCommandErrors(t *testing.T) {
	code, out, errOut := runCLI(t, "validate", "-f", filepath.Join(t.TempDir(), "none.yaml"))
	if code != 2 || out != "" || !strings.HasPrefix(errOut, "pgha-bundle: read spec: open ") {
		t.Errorf("missing file: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "validate", "cluster.yaml")
	if code != 2 || !strings.Contains(errOut, "validate takes no arguments") {
		t.Errorf("argument: exit %d, stderr %q", code, errOut)
	}
}

func TestInitCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cluster.yaml")

	code, out, errOut := runCLI(t, "init", "-o", path)
	if code != 0 || errOut != "" || out != "wrote "+path+"; check it with: pgha-bundle validate -f "+path+"\n" {
		t.Fatalf("init: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, cluster.Example()) {
		t.Fatalf("written spec differs from the example (%v)", err)
	}
	// What init writes, validate accepts.
	if code, _, errOut := runCLI(t, "validate", "--strict", "-f", path); code != 0 {
		t.Errorf("validate of the init output: exit %d: %s", code, errOut)
	}

	writeFile(t, path, "mine\n")
	code, _, errOut = runCLI(t, "init", "-o", path)
	if code != 2 || errOut != "pgha-bundle: "+path+" exists; use --force to overwrite it\n" {
		t.Errorf("overwrite: exit %d, stderr %q", code, errOut)
	}
	if got, _ := os.ReadFile(path); string(got) != "mine\n" {
		t.Errorf("the existing file was changed: %q", got)
	}
	if code, _, errOut = runCLI(t, "init", "-o", path, "--force"); code != 0 {
		t.Errorf("--force: exit %d, stderr %q", code, errOut)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, cluster.Example()) {
		t.Error("--force did not write the example")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode: %v %v", fi.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	code, out, errOut = runCLI(t, "init", "-o", "-")
	if code != 0 || out != string(cluster.Example()) || errOut != "" {
		t.Errorf("-o -: exit %d, stderr %q", code, errOut)
	}
}

func TestInitFromAnsible(t *testing.T) {
	inv := filepath.Join("..", "..", "cluster", "testdata", "ansible")
	code, out, errOut := runCLI(t, "init", "--from-ansible", filepath.Join(inv, "playbook.ini"), "-o", "-")
	want, err := os.ReadFile(filepath.Join(inv, "playbook.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || out != strings.ReplaceAll(string(want), "inventory playbook.ini", "inventory "+filepath.Join(inv, "playbook.ini")) {
		t.Errorf("exit %d, stdout:\n%s", code, out)
	}
	testutil.Golden(t, "testdata/init_playbook.stderr", []byte(errOut))

	path := filepath.Join(t.TempDir(), "c.yaml")
	code, out, errOut = runCLI(t, "init", "--from-ansible", filepath.Join(inv, "unplaceable.ini"), "-o", path)
	if code != 2 || out != "" {
		t.Errorf("unplaceable: exit %d, stdout %q", code, out)
	}
	testutil.Golden(t, "testdata/init_unplaceable.stderr", []byte(errOut))
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a spec was written for an inventory that failed: %v", err)
	}
}

func TestInitValidateHelp(t *testing.T) {
	for _, cmd := range []string{"init", "validate"} {
		code, out, _ := runCLI(t, cmd, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "pgha-bundle "+cmd) {
			t.Errorf("%s --help: exit %d:\n%s", cmd, code, out)
		}
	}
}
