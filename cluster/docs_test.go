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
