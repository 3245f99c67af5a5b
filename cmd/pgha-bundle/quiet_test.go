package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
)

func TestQuietWriter(t *testing.T) {
	var b bytes.Buffer
	q := &quietWriter{w: &b}
	for _, chunk := range []string{"==> load spec c.yaml\n==> verify", " packages\n    a.rpm: ok\n==> new cluster: gen", "erated x\n", "==> node n1\n==> secrets s: updated\n"} {
		if n, err := q.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("write %q: %d, %v", chunk, n, err)
		}
	}
	if want := "==> new cluster: generated x\n==> secrets s: updated\n"; b.String() != want {
		t.Errorf("kept %q, want %q", b.String(), want)
	}
}

// build --quiet says only what must be known: a new cluster's secrets the
// first time, and both times the warning that the fixture's Patroni (3.0.2)
// predates 3.0.3; nothing else.
func TestBuildQuiet(t *testing.T) {
	dir := t.TempDir()
	pkgs := filepath.Join(dir, "rpms")
	if err := os.Mkdir(pkgs, 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := fixture.NewKeyFromSeed("quiet", []byte("quiet build test key"))
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
	args := []string{"build", "-q", "-f", spec, "--packages", pkgs, "--key", keyFile, "--out", filepath.Join(dir, "out")}
	warning := func(out string) bool {
		return strings.HasPrefix(out, "warning: "+spec+":") && strings.Contains(out, "older than 3.0.3") && strings.Count(out, "\n") == 1
	}
	code, out, errOut := runCLI(t, args...)
	first, rest, _ := strings.Cut(out, "\n")
	if code != 0 || errOut != "" || !strings.HasPrefix(first, "==> new cluster: generated its passwords") || !warning(rest) {
		t.Errorf("first build -q: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, args...)
	if code != 0 || !warning(out) || errOut != "" {
		t.Errorf("second build -q: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "pgcluster", "manifest.json")); err != nil {
		t.Errorf("no build written: %v", err)
	}
}
