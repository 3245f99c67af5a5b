package cluster

import (
	"os"
	"strings"
	"testing"
)

// Every key of the spec is documented in docs/spec.md with its full path in
// backquotes (`nodes[].tags.nofailover`), so the docs cannot rot.
func TestDocsCoverEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../docs/spec.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := SpecKeys()
	if len(keys) < 60 {
		t.Fatalf("only %d keys found by reflection: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/spec.md does not document `%s`", k)
		}
	}
}

// The directory rules in docs/spec.md list every system directory and tree.
func TestDocsListSystemDirs(t *testing.T) {
	doc, err := os.ReadFile("../docs/spec.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "## Directories on the node")
	section, _, _ = strings.Cut(section, "\n## ")
	for _, d := range append(append([]string{}, SystemDirs...), SystemTrees...) {
		if !strings.Contains(section, "`"+d+"`") {
			t.Errorf("docs/spec.md's directory rules do not list `%s`", d)
		}
	}
}
