package pipeline

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/pgha-bundle/pgha-bundle/"

// importsUp lists the Go files under root that import "up": the pipeline
// from anywhere but the command (diff takes a renderer from the command
// instead), or the command from anywhere.
func importsUp(t *testing.T, root string) []string {
	t.Helper()
	var bad []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			switch {
			case p == module+"pipeline" && dir != "pipeline" && !strings.HasPrefix(dir, "cmd/"):
				bad = append(bad, rel+" imports "+p)
			case strings.HasPrefix(p, module+"cmd/"):
				bad = append(bad, rel+" imports "+p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

// TestNoPackageImportsUp: only the command imports the pipeline, and no
// package imports the command. A planted import in a copy shows the check
// can fail.
func TestNoPackageImportsUp(t *testing.T) {
	if bad := importsUp(t, ".."); len(bad) > 0 {
		t.Errorf("imports up:\n%s", strings.Join(bad, "\n"))
	}

	root := t.TempDir()
	for path, src := range map[string]string{
		"diff/source/source.go": "package source\n\nimport _ \"" + module + "pipeline\"\n",
		"secrets/x.go":          "package secrets\n\nimport _ \"" + module + "cmd/pgha-bundle\"\n",
		"cmd/pgha-bundle/a.go":  "package main\n\nimport _ \"" + module + "pipeline\"\n",
		"pipeline/a.go":         "package pipeline\n\nimport _ \"" + module + "secrets\"\n",
	} {
		p := filepath.Join(root, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := strings.Join(importsUp(t, root), "\n")
	want := "diff/source/source.go imports " + module + "pipeline\nsecrets/x.go imports " + module + "cmd/pgha-bundle"
	if got != want {
		t.Errorf("planted tree: got\n%s\nwant\n%s", got, want)
	}
}
