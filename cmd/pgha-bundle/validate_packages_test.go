package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

// TestValidatePackages: validate --packages applies build's package gates
// (PostgreSQL major, Patroni version gates, signatures) to the spec and
// writes nothing: no secrets file, nothing beside the spec or packages.
func TestValidatePackages(t *testing.T) {
	root := loadSchema(t)
	pkgs, key := packagesAndKey(t)
	dir := t.TempDir()
	example := string(cluster.Example())
	spec := filepath.Join(dir, "cluster.yaml")
	writeFile(t, spec, example)
	major16 := filepath.Join(dir, "major16.yaml")
	writeFile(t, major16, strings.Replace(example, "postgresql:\n", "postgresql:\n  major: 16\n", 1))
	prio := filepath.Join(dir, "prio.yaml")
	writeFile(t, prio, strings.Replace(example, "    address: 192.168.0.82\n", "    address: 192.168.0.82\n    tags:\n      failover_priority: 2\n", 1))
	for _, p := range []string{major16, prio} {
		if b, _ := os.ReadFile(p); string(b) == example {
			t.Fatalf("%s: the test's edit does not apply", p)
		}
	}
	other := filepath.Join(dir, "OTHER-KEY")
	writeFile(t, other, "not a key")

	before := listTree(t, dir) + listTree(t, pkgs)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr []string
	}{
		{"fits", []string{"validate", "-f", spec, "--packages", pkgs, "--key", key}, 0,
			spec + ": valid: 3 nodes, 1 warning\n" + pkgs + ": fit the spec: PostgreSQL 15, 7 packages, signatures checked\n", []string{"Patroni 3.0.2", "older than 3.0.3"}},
		{"major mismatch", []string{"validate", "-f", major16, "--packages", pkgs, "--key", key}, 2,
			major16 + ": invalid: 1 error, 0 warnings\n", []string{major16 + ":49:10: postgresql.major is 16 but the packages carry PostgreSQL 15"}},
		{"patroni too old for failover_priority", []string{"validate", "-f", prio, "--packages", pkgs, "--key", key}, 2,
			prio + ": invalid: 1 error, 0 warnings\n", []string{prio + ":23:26: ", "3.0.2"}},
		{"the same spec without --packages is valid", []string{"validate", "-f", major16}, 0,
			major16 + ": valid: 3 nodes, 0 warnings\n", nil},
		{"wrong key", []string{"validate", "-f", spec, "--packages", pkgs, "--key", other}, 2,
			spec + ": invalid: 1 error, 0 warnings\n", []string{pkgs + ": the packages do not pass: "}},
		{"--key alone", []string{"validate", "-f", spec, "--key", key}, 2,
			"", []string{"--key checks packages: name them with --packages DIR"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code || stdout != tc.stdout {
				t.Fatalf("exit %d (want %d), stdout:\n%s\nwant:\n%s\nstderr:\n%s", code, tc.code, stdout, tc.stdout, stderr)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
	code, stdout, _ := runCLI(t, "validate", "--format", "json", "-f", spec, "--packages", pkgs, "--key", key)
	if err := checkJSON(root, "validate", []byte(stdout)); code != 0 || err != nil || !strings.Contains(stdout, `"postgresql_major": 15`) {
		t.Errorf("validate --packages --format json: exit %d, %v\n%s", code, err, stdout)
	}
	code, stdout, _ = runCLI(t, "validate", "--format", "json", "-f", spec, "--packages", pkgs, "--key", other)
	if err := checkJSON(root, "validate", []byte(stdout)); code != 2 || err != nil || !strings.Contains(stdout, "the packages do not pass") || !strings.Contains(stdout, `"valid": false`) {
		t.Errorf("validate --packages --format json with the wrong key: exit %d, %v\n%s", code, err, stdout)
	}
	withStdin(t, example, func() {
		code, stdout, stderr := runCLI(t, "validate", "-f", "-", "--packages", pkgs, "--key", key)
		if code != 0 || !strings.Contains(stdout, "<stdin>: valid") || !strings.Contains(stdout, "fit the spec") {
			t.Errorf("validate -f - --packages: exit %d\n%s%s", code, stdout, stderr)
		}
	})
	if after := listTree(t, dir) + listTree(t, pkgs); after != before {
		t.Errorf("validate --packages changed files:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// listTree lists every path under dir with its mode and size.
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%v %d %s", fi.Mode(), fi.Size(), p))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, "\n") + "\n"
}
