package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// TestMakeInstall runs `make install` into a DESTDIR and checks that the
// binary, the three completions and the man page land where each tool
// looks for them, the generated files as the goldens.
func TestMakeInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	mk := testutil.NeedTool(t, "make", "make")
	dest := t.TempDir()
	cmd := exec.Command(mk, "-C", "../..", "install", "DESTDIR="+dest, "PREFIX=/usr", "VERSION=test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	var got []string
	filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			fi, _ := d.Info()
			rel, _ := filepath.Rel(dest, p)
			got = append(got, fi.Mode().String()+" "+rel)
		}
		return err
	})
	sort.Strings(got)
	want := []string{
		"-rw-r--r-- usr/share/bash-completion/completions/pgha-bundle",
		"-rw-r--r-- usr/share/fish/vendor_completions.d/pgha-bundle.fish",
		"-rw-r--r-- usr/share/man/man1/pgha-bundle.1",
		"-rw-r--r-- usr/share/zsh/site-functions/_pgha-bundle",
		"-rwxr-xr-x usr/bin/pgha-bundle",
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("make install wrote:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for inst, golden := range map[string]string{
		"usr/share/bash-completion/completions/pgha-bundle":    "pgha-bundle.bash",
		"usr/share/zsh/site-functions/_pgha-bundle":            "_pgha-bundle",
		"usr/share/fish/vendor_completions.d/pgha-bundle.fish": "pgha-bundle.fish",
		"usr/share/man/man1/pgha-bundle.1":                     "pgha-bundle.1",
	} {
		a, _ := os.ReadFile(filepath.Join(dest, inst))
		b, _ := os.ReadFile(filepath.Join("testdata", "completion", golden))
		if len(a) == 0 || string(a) != string(b) {
			t.Errorf("%s differs from testdata/completion/%s", inst, golden)
		}
	}
	out, err := exec.Command(filepath.Join(dest, "usr/bin/pgha-bundle"), "version").Output()
	if err != nil || string(out) != "pgha-bundle test\n" {
		t.Errorf("installed binary: %q %v", out, err)
	}
}
