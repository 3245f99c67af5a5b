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

// TestFromAnsibleRefusesNonText: a binary or non-UTF-8 file is refused
// whole, naming it, instead of being read as lines of odd host names.
func TestFromAnsibleRefusesNonText(t *testing.T) {
	ini, err := os.ReadFile("testdata/ansible/playbook.ini")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"ELF binary", []byte("\x7fELF\x02\x01\x01\x00\x00\x00host"), "inv is not a text file (a NUL byte at byte 7): give the old playbook's Ansible INI inventory, e.g. its hosts file"},
		{"control character", []byte("[master]\npg1 ansible_host=10.0.0.1\x1b[0m\n"), "inv is not a text file (the control character U+001B at byte 34)"},
		{"Latin-1", []byte("# r\xe9seau\n[master]\n"), "inv is not UTF-8 text (byte 3): convert it, e.g. iconv -f latin1 -t utf-8"},
		{"too large", []byte(strings.Repeat("#", maxInventory+1)), "inv is larger than 4 MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec, notes, err := FromAnsible(strings.NewReader(string(tc.data)), "inv")
			if err == nil || !strings.Contains(err.Error(), tc.want) || spec != nil || len(notes) > 0 {
				t.Fatalf("err %v, %d notes, spec %v; want an error containing %q", err, len(notes), spec != nil, tc.want)
			}
		})
	}
	// A byte order mark is not binary: the inventory converts as without it.
	want, _, err := FromAnsible(strings.NewReader(string(ini)), "inv")
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := FromAnsible(strings.NewReader("\ufeff"+string(ini)), "inv")
	if err != nil || string(got) != string(want) {
		t.Errorf("with a byte order mark: %v\n%s", err, got)
	}
}
