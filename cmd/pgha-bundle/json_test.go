package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

// TestJSONOutputs runs every command that takes --format json, on success
// and on failure, and checks each document against the documented schema,
// its exit status, and a few values.
func TestJSONOutputs(t *testing.T) {
	root := loadSchema(t)
	pkgs, key := packagesAndKey(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "cluster.yaml")
	writeFile(t, spec, string(cluster.Example()))
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, strings.Replace(string(cluster.Example()), "os: el7", "os: el6", 1))
	dhcp := filepath.Join(dir, "dhcp.yaml")
	if code, _, errOut := runCLI(t, "init", "-q", "--network", "dhcp", "-o", dhcp); code != 0 {
		t.Fatal(errOut)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	rpms, _ := filepath.Glob(filepath.Join(pkgs, "*.rpm"))
	notRPM := filepath.Join(dir, "not.rpm")
	writeFile(t, notRPM, "not an rpm")

	tests := []struct {
		name   string
		def    string
		args   []string
		code   int
		values map[string]any // top-level members that must have these values
	}{
		{"validate", "validate", []string{"validate", "--format", "json", "-f", spec}, 0,
			map[string]any{"valid": true, "nodes": 3.0, "errors": 0.0, "spec": spec}},
		{"validate an invalid spec", "validate", []string{"validate", "--format", "json", "-f", bad}, 2,
			map[string]any{"valid": false, "errors": 1.0}},
		{"validate with notes", "validate", []string{"validate", "--format", "json", "-f", dhcp}, 0,
			map[string]any{"valid": true}},
		{"build", "build", []string{"build", "--format", "json", "-f", spec, "--packages", pkgs, "--key", key, "--out", out}, 0,
			map[string]any{"ok": true, "cluster": "pgcluster", "error": "", "dir": filepath.Join(out, "pgcluster")}},
		{"build of an invalid spec", "build", []string{"build", "--format", "json", "-f", bad, "--packages", pkgs, "--key", key, "--out", out}, 2,
			map[string]any{"ok": false, "build_id": ""}},
		{"verify", "verify", append([]string{"verify", "--format", "json", "--key", key}, rpms...), 0,
			map[string]any{"ok": true, "signatures_checked": true}},
		{"verify a bad file", "verify", []string{"verify", "--format", "json", rpms[0], notRPM}, 1,
			map[string]any{"ok": false, "signatures_checked": false}},
		{"inspect a build", "inspect", []string{"inspect", "--format", "json", filepath.Join(out, "pgcluster")}, 0,
			map[string]any{"kind": "build"}},
		{"inspect a seed", "inspect", []string{"inspect", "--format", "json", filepath.Join(out, "pgcluster", "seeds", "co7-node01.iso")}, 0,
			map[string]any{"kind": "iso"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if err := checkJSON(root, tc.def, []byte(stdout)); err != nil {
				t.Fatalf("stdout does not fit $defs/%s of %s:\n%v\n%s", tc.def, schemaPath, err, stdout)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.values {
				if doc[k] != want {
					t.Errorf("%s = %v, want %v", k, doc[k], want)
				}
			}
		})
	}

	// Spot checks of contents the schema cannot express.
	_, stdout, _ := runCLI(t, "validate", "--format", "json", "-f", bad)
	if !strings.Contains(stdout, `"severity": "error"`) || !strings.Contains(stdout, `"line": 11`) || !strings.Contains(stdout, `"path": "cluster.os"`) {
		t.Errorf("validate's problem lacks its position or path:\n%s", stdout)
	}
	_, stdout, _ = runCLI(t, "validate", "--format", "json", "-f", dhcp)
	if !strings.Contains(stdout, `"severity": "note"`) || !strings.Contains(stdout, "reservation") {
		t.Errorf("validate of a DHCP spec lacks its note:\n%s", stdout)
	}
	_, stdout, stderr := runCLI(t, "build", "--format", "json", "-f", spec, "--packages", pkgs, "--key", key, "--out", out)
	if !strings.Contains(stderr, "==> verify packages") || strings.Contains(stdout, "==>") {
		t.Errorf("build --format json: progress belongs on stderr:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	_, stdout, _ = runCLI(t, "inspect", "--format", "json", filepath.Join(out, "pgcluster"))
	secret, _ := os.ReadFile(filepath.Join(dir, "cluster.secrets.yaml"))
	passwords := 0
	for _, line := range strings.Split(string(secret), "\n") {
		if _, v, ok := strings.Cut(line, "_password: "); ok && len(v) > 8 {
			passwords++
			if strings.Contains(stdout, strings.Trim(v, `"'`)) {
				t.Errorf("inspect --format json shows a password")
			}
		}
	}
	if passwords == 0 {
		t.Errorf("no password found in the secrets file to look for")
	}
	if !strings.Contains(stdout, `"path": "/etc/patroni/patroni.yml"`) {
		t.Errorf("inspect --format json lacks patroni.yml:\n%.2000s", stdout)
	}
	if code, _, stderr := runCLI(t, "inspect", "--format", "json", filepath.Join(out, "pgcluster"), "co7-node01:/etc/patroni/patroni.yml"); code != 2 || !strings.Contains(stderr, "a FILE is printed as it is") {
		t.Errorf("inspect --format json FILE: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "validate", "--format", "yaml", "-f", spec); code != 2 || !strings.Contains(stderr, `--format "yaml": want text or json`) {
		t.Errorf("--format yaml: exit %d, %s", code, stderr)
	}
}
