package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// TestFromAnsible converts inventories shaped like the old playbook's; the
// spec, the notes or the error are golden files beside each inventory.
func TestFromAnsible(t *testing.T) {
	inis, err := filepath.Glob("testdata/ansible/*.ini")
	if err != nil || len(inis) < 4 {
		t.Fatalf("inventories: %v %v", inis, err)
	}
	for _, ini := range inis {
		name := strings.TrimSuffix(filepath.Base(ini), ".ini")
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(ini)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			spec, notes, err := FromAnsible(f, filepath.Base(ini))
			stem := strings.TrimSuffix(ini, ".ini")
			if err != nil {
				testutil.Golden(t, stem+".err", []byte(err.Error()+"\n"))
				if spec != nil {
					t.Error("a spec came with an error")
				}
				return
			}
			testutil.Golden(t, stem+".yaml", spec)
			testutil.Golden(t, stem+".notes", []byte(strings.Join(notes, "\n")+"\n"))
			if _, ps, err := Parse(stem+".yaml", spec); err != nil {
				t.Errorf("converted spec does not load:\n%s", ps)
			}
			for _, secret := range []string{"changeme", "s3cr3t", "hunter2"} {
				if strings.Contains(string(spec), secret) || strings.Contains(strings.Join(notes, "\n"), secret) {
					t.Errorf("secret value %q was carried over", secret)
				}
			}
		})
	}
}
