package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildRefusesCraftedNodeNames: a manifest.json whose node names are not
// plain names would make diff and inspect read files outside the build
// (nodes/../../etc); listing a node twice would show it twice.
func TestBuildRefusesCraftedNodeNames(t *testing.T) {
	for _, tc := range []struct {
		name, nodes, want string
	}{
		{"parent", `[{"name": "../../etc"}]`, `node name "../../etc" is not a plain name`},
		{"dot-dot", `[{"name": ".."}]`, `node name ".." is not a plain name`},
		{"empty", `[{"name": ""}]`, `node name "" is not a plain name`},
		{"twice", `[{"name": "pg1"}, {"name": "pg1"}]`, "lists node pg1 twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "nodes", "pg1"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"format": 1, "nodes": `+tc.nodes+`}`), 0o644); err != nil {
				t.Fatal(err)
			}
			side, err := Build(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build: %v (%v), want an error containing %q", err, side, tc.want)
			}
		})
	}
}
